"""Where a classifier looks: Grad-CAM and gradient saliency, through a forward hook and a tensor backward hook.

    result = grad_cam(model, image, layer="features.6")           # target: the predicted class
    result.cam            # (N, h, w) class activation map at the layer's resolution (ReLU of the weighted sum)
    result.heatmap        # (N, H, W) the map resized to the input (bilinear), scaled to [0, 1] per image
    sal = saliency(model, image, target=3)
    sal.saliency          # (N, H, W) max over channels of |d score / d input|

Grad-CAM (Selvaraju et al., 2017): the class score ``y_c`` (the logit, before softmax) is backpropagated to the
layer's output ``A`` (N, K, h, w); each channel's weight is its mean gradient ``alpha_k = mean_ij dy_c/dA_kij``
and the map is ``ReLU(sum_k alpha_k A_k)``. Saliency (Simonyan et al., 2014): the gradient of ``y_c`` with
respect to the input pixels. Both run the model in eval mode and leave its parameters' ``.grad`` as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor, enable_grad
from ..errors import InputError
from ._hooks import as_batch, check_class, find_layer, layer_names

__all__ = ["GradCAM", "Saliency", "grad_cam", "saliency", "class_scores", "overlay_heatmap", "plot_gradcam",
           "plot_saliency"]


@dataclass
class GradCAM:
    """Grad-CAM of a batch: ``cam`` (N, h, w) raw map, ``heatmap`` (N, H, W) resized to the input and scaled to
    [0, 1] per image, ``weights`` (N, K) the channel weights alpha, ``target`` (N,) the explained classes,
    ``scores`` (N, classes) the logits, ``layer`` the layer's name."""

    cam: np.ndarray
    heatmap: np.ndarray
    weights: np.ndarray
    target: np.ndarray
    scores: np.ndarray
    layer: str


@dataclass
class Saliency:
    """Gradient saliency of a batch: ``gradient`` (N, C, H, W) d score / d input, ``saliency`` (N, H, W) its
    absolute value's maximum over channels, ``target`` (N,), ``scores`` (N, classes)."""

    gradient: np.ndarray
    saliency: np.ndarray
    target: np.ndarray
    scores: np.ndarray


def _keep_grads(model):
    """The parameters' current ``.grad`` (restored after an explanation's backward pass)."""
    params = list(model.parameters())
    return params, [p.grad for p in params]


def _backward_from_scores(model, x: Tensor, target, hook_layer: str | None):
    """Forward ``x`` (eval mode), backpropagate the target class's logit; returns (scores, targets, activations,
    activation gradients) — the last two from ``hook_layer`` through a forward hook that registers a tensor
    backward hook on the layer's output."""
    found: dict = {}

    def forward_hook(module, args, output):
        if not isinstance(output, Tensor) or output.ndim != 4:
            shape = getattr(output, "shape", type(output).__name__)
            raise InputError(f"layer {hook_layer!r} outputs {shape}, not a feature map (N, C, H, W); Grad-CAM "
                             f"needs a convolutional layer", field="layer")
        found["activations"] = output.data.copy()
        output.register_hook(lambda grad: found.__setitem__("gradients", grad.data.copy()))

    handle = find_layer(model, hook_layer).register_forward_hook(forward_hook) if hook_layer else None
    params, saved = _keep_grads(model)
    was_training = model.training
    model.eval()
    try:
        with enable_grad():
            scores = model(x)
            if not isinstance(scores, Tensor) or scores.ndim != 2:
                raise InputError(f"explaining a prediction needs a classifier with outputs (N, classes), got "
                                 f"{getattr(scores, 'shape', type(scores).__name__)}")
            n, k = scores.shape
            targets = scores.data.argmax(axis=1) if target is None else check_class(target, k, n)
            seed = np.zeros_like(scores.data)
            seed[np.arange(n), targets] = 1.0
            scores.backward(seed)
    finally:
        model.train(was_training)
        if handle is not None:
            handle.remove()
        for p, g in zip(params, saved, strict=True):
            p.grad = g
    return scores.data.copy(), targets, found.get("activations"), found.get("gradients")


def class_scores(model, image) -> np.ndarray:
    """The logits (N, classes) of an image or batch (eval mode, no gradients)."""
    from ..autograd import no_grad

    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return model(Tensor(as_batch(image))).data.copy()
    finally:
        model.train(was_training)


def grad_cam(model, image, layer: str, target=None) -> GradCAM:
    """Grad-CAM of ``image`` ((C, H, W) or (N, C, H, W)) at the layer called ``layer`` for class ``target`` (an int,
    one per image, or None for the predicted class); see the module docstring."""
    from ..functional import interpolate

    find_layer(model, layer)
    batch = as_batch(image)
    x = Tensor(batch, requires_grad=True)  # so the layer's output is in the graph even with frozen weights
    scores, targets, acts, grads = _backward_from_scores(model, x, target, layer)
    if acts is None:
        raise InputError(f"layer {layer!r} was not used by the model's forward pass; choose one of: "
                         f"{', '.join(layer_names(model))}", field="layer")
    if grads is None:  # the class score does not depend on this layer (e.g. an unused branch)
        grads = np.zeros_like(acts)
    weights = grads.mean(axis=(2, 3))
    cam = np.maximum((weights[:, :, None, None] * acts).sum(axis=1), 0.0)
    up = interpolate(Tensor(cam[:, None].astype(batch.dtype)), size=batch.shape[2:], mode="bilinear",
                     align_corners=False).data[:, 0]
    peak = up.reshape(len(up), -1).max(axis=1)
    heatmap = np.where(peak[:, None, None] > 0, up / np.where(peak > 0, peak, 1.0)[:, None, None], 0.0)
    return GradCAM(cam, np.clip(heatmap, 0.0, 1.0), weights, targets, scores, layer)


def saliency(model, image, target=None) -> Saliency:
    """Gradient saliency of ``image`` for class ``target`` (None: the predicted class); see the module docstring."""
    batch = as_batch(image)
    x = Tensor(batch, requires_grad=True)
    scores, targets, _, _ = _backward_from_scores(model, x, target, None)
    gradient = x.grad.data.copy() if x.grad is not None else np.zeros_like(batch)
    return Saliency(gradient, np.abs(gradient).max(axis=1), targets, scores)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """An RGB (H, W, 3) picture: the image (C, H, W in [0, 1], grey or RGB) under a coloured heatmap (H, W in
    [0, 1])."""
    from matplotlib import colormaps

    image = np.asarray(image, dtype=np.float64)
    base = np.repeat(image[:1], 3, axis=0) if image.shape[0] != 3 else image
    base = np.clip(base.transpose(1, 2, 0), 0.0, 1.0)
    colour = colormaps[cmap](np.clip(heatmap, 0.0, 1.0))[..., :3]
    return (1 - alpha) * base + alpha * colour


def _show_image(ax, image):
    img = np.asarray(image)
    ax.imshow(img[0] if img.shape[0] == 1 else np.clip(img.transpose(1, 2, 0), 0, 1), cmap="gray")


def plot_gradcam(image: np.ndarray, result: GradCAM, path, index: int = 0, classes=None, title: str = ""):
    """Input, the raw map at the layer's resolution and the map overlaid on the input, for image ``index``."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
    _show_image(axes[0], image)
    axes[0].set_title("input")
    im = axes[1].imshow(result.cam[index], cmap="jet", interpolation="nearest")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[1].set_title(f"Grad-CAM at {result.layer} ({result.cam.shape[1]}x{result.cam.shape[2]})")
    axes[2].imshow(overlay_heatmap(image, result.heatmap[index]))
    axes[2].set_title("overlaid (bilinear to the input size)")
    for ax in axes:
        ax.axis("off")
    c = int(result.target[index])
    name = classes[c] if classes is not None and c < len(classes) else str(c)
    fig.suptitle(title or f"Where the model looks for class {name} (logit {result.scores[index, c]:.2f})")
    return _save(fig, path)


def plot_saliency(image: np.ndarray, result: Saliency, path, index: int = 0, classes=None, title: str = ""):
    """Input and the saliency map (max over channels of |d score / d pixel|) side by side."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.9))
    _show_image(axes[0], image)
    axes[0].set_title("input")
    im = axes[1].imshow(result.saliency[index], cmap="hot", interpolation="nearest")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[1].set_title("|d score / d pixel|")
    for ax in axes:
        ax.axis("off")
    c = int(result.target[index])
    name = classes[c] if classes is not None and c < len(classes) else str(c)
    fig.suptitle(title or f"Gradient saliency for class {name}: the pixels that change the score most")
    return _save(fig, path)
