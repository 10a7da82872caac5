"""The empirical receptive field of a unit: the input pixels whose gradient is non-zero, beside the summary's
computed receptive field.

    rf = empirical_receptive_field(model, "features.3", input_size=(1, 32, 32))
    rf.extent        # (h, w) of the bounding box of pixels that reach the unit
    rf.computed      # (h, w) the receptive field the summary computes from the layers' geometry

The unit's output (every channel at one position, by default the centre) is backpropagated to a few random inputs
(eval mode); a pixel belongs to the field when its gradient is non-zero for any of them — several inputs, so a
ReLU that happens to be off or a max-pool that routes elsewhere for one input does not hide a pixel. The field of
a unit away from the border equals the computed one for convolutions; a unit near the border is cut by the
padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor, enable_grad
from ..errors import InputError
from ._hooks import find_layer

__all__ = ["ReceptiveField", "empirical_receptive_field", "plot_receptive_field"]


@dataclass
class ReceptiveField:
    """``gradient`` (H, W) summed |d unit / d input|; ``mask`` where it is non-zero; ``unit`` (row, col) on the
    layer's output; ``bbox`` (top, left, bottom, right) inclusive of the mask; ``extent`` (h, w) of the box;
    ``computed`` (h, w) from :func:`cnnkit.summary` (None when the summary has none for the layer, or the whole
    model does not take this input size)."""

    layer: str
    gradient: np.ndarray
    mask: np.ndarray
    unit: tuple[int, int]
    bbox: tuple[int, int, int, int] | None
    extent: tuple[int, int]
    computed: tuple[int, int] | None

    @property
    def matches(self) -> bool:
        """Whether the empirical extent equals the computed receptive field."""
        return self.computed is not None and tuple(self.extent) == tuple(self.computed)


class _Reached(Exception):
    """Raised by the forward hook once the layer's output is captured."""


def _computed_rf(model, layer: str, input_size) -> tuple[int, int] | None:
    from ..analysis.summary import summary

    try:
        rows = summary(model, (1, *input_size)).rows
    except InputError:  # the model as a whole does not take this input size (e.g. a fixed-size classifier)
        return None
    found = [r.receptive_field for r in rows if r.name == layer]
    return tuple(int(v) for v in found[0]) if found and found[0] is not None else None


def empirical_receptive_field(model, layer: str, input_size, unit: tuple[int, int] | None = None,
                              samples: int = 4, seed: int = 0, compare: bool = True) -> ReceptiveField:
    """The empirical receptive field of the unit at ``unit`` (row, col; default the centre) of layer ``layer`` for
    inputs of ``input_size`` (C, H, W); see the module docstring. ``compare`` adds the summary's value."""
    module = find_layer(model, layer)
    input_size = tuple(int(v) for v in input_size)
    if len(input_size) != 3:
        raise InputError(f"receptive field: input_size must be (C, H, W), got {input_size}")
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((samples, *input_size)).astype(np.float32), requires_grad=True)
    found: dict = {}
    def hook(mod, args, output):
        found.setdefault("out", output)
        raise _Reached  # the rest of the model is not needed (and may not even take this input size)

    handle = module.register_forward_hook(hook)
    params = list(model.parameters())
    saved = [p.grad for p in params]
    was_training = model.training
    model.eval()
    try:
        with enable_grad():
            try:
                model(x)
            except _Reached:
                pass
            out = found.get("out")
            if not isinstance(out, Tensor) or out.ndim != 4:
                raise InputError(f"layer {layer!r} outputs {getattr(out, 'shape', None)}, not a feature map "
                                 f"(N, C, H, W)", field="layer")
            h, w = out.shape[2:]
            i, j = (h // 2, w // 2) if unit is None else (int(unit[0]), int(unit[1]))
            if not (0 <= i < h and 0 <= j < w):
                raise InputError(f"unit {(i, j)} is outside layer {layer!r}'s {h}x{w} output", field="unit")
            seed_grad = np.zeros_like(out.data)
            seed_grad[:, :, i, j] = 1.0
            out.backward(seed_grad)
    finally:
        handle.remove()
        model.train(was_training)
        for p, g in zip(params, saved, strict=True):
            p.grad = g
    gradient = np.abs(x.grad.data).sum(axis=(0, 1)) if x.grad is not None else np.zeros(input_size[1:])
    mask = gradient != 0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size:
        bbox = (int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1]))
        extent = (bbox[2] - bbox[0] + 1, bbox[3] - bbox[1] + 1)
    else:
        bbox, extent = None, (0, 0)
    computed = _computed_rf(model, layer, input_size) if compare else None
    return ReceptiveField(layer, gradient, mask, (i, j), bbox, extent, computed)


def plot_receptive_field(rf: ReceptiveField, path, image: np.ndarray | None = None, title: str = ""):
    """The gradient magnitude of the unit over the input (on the image when given), the empirical bounding box
    (solid) and a box of the computed size centred on it (dashed)."""
    from matplotlib.patches import Rectangle

    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    if image is not None:
        img = np.asarray(image)
        axes[0].imshow(img[0] if img.shape[0] == 1 else np.clip(img.transpose(1, 2, 0), 0, 1), cmap="gray")
        axes[0].set_title("input")
    else:
        axes[0].imshow(rf.mask, cmap="gray")
        axes[0].set_title("pixels with a non-zero gradient")
    axes[1].imshow(np.log1p(rf.gradient / max(rf.gradient.max(), 1e-30) * 1e3), cmap="magma")
    axes[1].set_title(f"|d unit / d input| (log scale), unit {rf.unit}")
    for ax in axes:
        if rf.bbox is not None:
            top, left, bottom, right = rf.bbox
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                                   edgecolor="cyan", linewidth=2, label=f"empirical {rf.extent[0]}x{rf.extent[1]}"))
            if rf.computed is not None:
                cy, cx = (top + bottom) / 2, (left + right) / 2
                ch, cw = rf.computed
                ax.add_patch(Rectangle((cx - cw / 2, cy - ch / 2), cw, ch, fill=False, edgecolor="yellow",
                                       linewidth=1.5, linestyle="--", label=f"computed {ch}x{cw}"))
        ax.axis("off")
    axes[1].legend(loc="lower right", fontsize=8)
    verdict = "" if rf.computed is None else (" = " if rf.matches else " != ") + f"computed {rf.computed}"
    fig.suptitle(title or f"Receptive field of a unit of {rf.layer}: empirical {rf.extent}{verdict}")
    return _save(fig, path)
