"""What a layer tells the model summary about one call: ``Module.geometry(call) -> LayerGeometry``.

Keras lets a layer own its ``compute_output_shape``; here a layer owns its summary geometry. For every call of a
leaf module, :func:`cnnkit.summary` builds a :class:`LayerCall` (the shapes the call received and returned, the
dtype, the kernels' thread count) and asks ``module.geometry(call)``. The answer, a :class:`LayerGeometry`, says

* ``macs``: multiply-accumulates of the call (FLOPs = 2 x MACs);
* ``window``: how the layer moves the receptive field over the last two axes (H, W): a :class:`Window`
  (convolution, pooling), a :class:`TransposedWindow` (transposed convolution: the jump is divided by the
  stride), an :class:`AdaptiveWindow` (adaptive pooling), a :class:`Resize` (interpolation), or None: the
  output sees what the input saw;
* ``workspace_bytes``: scratch memory its kernels allocate for the call (for a convolution: the im2col buffers);
* ``im2col_matrix``: for a convolution, the im2col matrix it would need if it were not cut into chunks;
* ``params``: how its parameter count is made up, for the summary's explanations.

``Module.geometry`` returns ``LayerGeometry()`` (nothing counted, the receptive field passed on), so a custom layer
overrides it only when it slides a window, costs multiply-adds or allocates scratch::

    class Blur(nn.Module):                       # a fixed 3x3 box blur, stride 2
        def forward(self, x):
            return F.avg_pool2d(x, 3, 2, 1)

        def geometry(self, call):
            n, c, h, w = call.output_shape
            return nn.LayerGeometry(macs=9 * n * c * h * w, window=nn.Window(3, stride=2, padding=1))

A window is any object with ``receptive_field(rf, jump) -> (rf, jump)`` ((H, W) pairs in input pixels); the ones
here also give ``output_size(input_hw)``, the output size the summary checks the call against. Only numbers live
here: the summary writes the formulas out (:mod:`cnnkit.analysis`), and the arithmetic is
:mod:`cnnkit.kernels.conv_arith`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ..kernels.conv_arith import (
    adaptive_window,
    conv_output_size,
    conv_transpose_output_size,
    receptive_field_step,
)

__all__ = ["LayerCall", "LayerGeometry", "ParamCount", "Window", "TransposedWindow", "AdaptiveWindow", "Resize"]


def _int_pair(value, what: str, owner: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    raise InputTypeError(f"{owner}: {what} must be an int or a pair of ints, got {value!r}")


def _padding_pairs(value, owner: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding as ((before, after), (before, after)) from an int, a pair or that nested form."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (tuple, list)) for v in value):
        return _int_pair(value[0], "padding", owner), _int_pair(value[1], "padding", owner)
    ph, pw = _int_pair(value, "padding", owner)
    return (ph, ph), (pw, pw)


def _as_number(x):
    """Integral values as ints (fractional jumps appear after upsampling)."""
    return int(x) if float(x).is_integer() else float(x)


# ----------------------------------------------------------------------------------------------- the call
@dataclass(frozen=True)
class LayerCall:
    """One call of a layer as the summary saw it: the shapes of every tensor it received (``input_shapes``)
    and returned (``output_shapes``), in order, the dtype of its (first) input and the number of threads the
    kernels would use."""

    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    dtype: np.dtype = np.dtype(np.float32)
    num_threads: int = 1

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The first input's shape (None if the call received no tensor)."""
        return self.input_shapes[0] if self.input_shapes else None

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """The first output's shape (None if the call returned no tensor)."""
        return self.output_shapes[0] if self.output_shapes else None

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize


# ----------------------------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class Window:
    """A window of ``kernel`` taps ``dilation`` apart, moved by ``stride`` over an input padded by ``padding``
    (an int, a pair or ((top, bottom), (left, right))); ``ceil_mode`` as in pooling. Ints mean both axes.

    rf' = rf + d(k-1) * jump, jump' = jump * s (per axis)."""

    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False

    def __post_init__(self):
        name = type(self).__name__
        set_ = object.__setattr__
        set_(self, "kernel", _int_pair(self.kernel, "kernel", name))
        set_(self, "stride", _int_pair(self.stride, "stride", name))
        set_(self, "dilation", _int_pair(self.dilation, "dilation", name))
        set_(self, "padding", _padding_pairs(self.padding, name))
        set_(self, "ceil_mode", bool(self.ceil_mode))
        if min(self.kernel + self.stride + self.dilation) < 1 or min(self.padding[0] + self.padding[1]) < 0:
            raise InputError(f"{name}: kernel, stride and dilation must be positive and padding non-negative, "
                             f"got {self}")

    def receptive_field(self, rf, jump):
        steps = [receptive_field_step(rf[i], jump[i], self.kernel[i], self.stride[i], self.dilation[i])
                 for i in range(2)]
        return tuple(_as_number(s[0]) for s in steps), tuple(_as_number(s[1]) for s in steps)

    def output_size(self, input_hw) -> tuple[int, int]:
        out = []
        for i in range(2):
            before, after = self.padding[i]
            size = int(input_hw[i])
            if before == after:
                out.append(conv_output_size(size, self.kernel[i], self.stride[i], before, self.dilation[i],
                                            self.ceil_mode))
            else:
                out.append(conv_output_size(size + before + after, self.kernel[i], self.stride[i], 0,
                                            self.dilation[i], self.ceil_mode))
        return tuple(out)


@dataclass(frozen=True)
class TransposedWindow:
    """The window of a transposed convolution (the adjoint of a :class:`Window` with these settings): neighbouring
    outputs are 1/stride input pixels apart, so rf' = rf + d(k-1) * jump/s and jump' = jump/s."""

    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    output_padding: tuple[int, int] = (0, 0)

    def __post_init__(self):
        name = type(self).__name__
        for what in ("kernel", "stride", "padding", "dilation", "output_padding"):
            object.__setattr__(self, what, _int_pair(getattr(self, what), what, name))
        if min(self.kernel + self.stride + self.dilation) < 1 or min(self.padding + self.output_padding) < 0:
            raise InputError(f"{name}: kernel, stride and dilation must be positive and the paddings non-negative, "
                             f"got {self}")

    def receptive_field(self, rf, jump):
        steps = [receptive_field_step(rf[i], jump[i] / self.stride[i], self.kernel[i], 1, self.dilation[i])
                 for i in range(2)]
        return tuple(_as_number(s[0]) for s in steps), tuple(_as_number(s[1]) for s in steps)

    def output_size(self, input_hw) -> tuple[int, int]:
        return tuple(conv_transpose_output_size(int(input_hw[i]), self.kernel[i], self.stride[i], self.padding[i],
                                                self.output_padding[i], self.dilation[i]) for i in range(2))


@dataclass(frozen=True)
class AdaptiveWindow:
    """Adaptive pooling from ``in_size`` to ``out_size`` bins (H, W): taken as its widest bin, moved by
    floor(in/out) (:func:`cnnkit.kernels.conv_arith.adaptive_window`)."""

    in_size: tuple[int, int]
    out_size: tuple[int, int]

    def __post_init__(self):
        name = type(self).__name__
        for what in ("in_size", "out_size"):
            object.__setattr__(self, what, _int_pair(getattr(self, what), what, name))
        if min(self.in_size + self.out_size) < 1:
            raise InputError(f"{name}: sizes must be positive, got {self}")

    @property
    def windows(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(widest bin, stride) per axis."""
        return tuple(adaptive_window(self.in_size[i], self.out_size[i]) for i in range(2))

    def receptive_field(self, rf, jump):
        (kh, sh), (kw, sw) = self.windows
        return Window((kh, kw), (sh, sw)).receptive_field(rf, jump)

    def output_size(self, input_hw) -> tuple[int, int]:
        return self.out_size


@dataclass(frozen=True)
class Resize:
    """Interpolation from ``in_size`` to ``out_size`` (H, W), each output reading ``taps`` neighbouring input
    pixels per axis (nearest 1, bilinear 2): rf' = rf + (taps-1) * jump, jump' = jump * in/out."""

    in_size: tuple[int, int]
    out_size: tuple[int, int]
    taps: tuple[int, int] = (1, 1)

    def __post_init__(self):
        name = type(self).__name__
        for what in ("in_size", "out_size", "taps"):
            object.__setattr__(self, what, _int_pair(getattr(self, what), what, name))
        if min(self.in_size + self.out_size + self.taps) < 1:
            raise InputError(f"{name}: sizes and taps must be positive, got {self}")

    def receptive_field(self, rf, jump):
        rf_out = tuple(_as_number(rf[i] + (self.taps[i] - 1) * jump[i]) for i in range(2))
        jump_out = tuple(_as_number(jump[i] * self.in_size[i] / self.out_size[i]) for i in range(2))
        return rf_out, jump_out

    def output_size(self, input_hw) -> tuple[int, int]:
        return self.out_size


# ----------------------------------------------------------------------------------------------- the answer
@dataclass(frozen=True)
class ParamCount:
    """A parameter count as a product plus a bias, e.g. kH*kW*(C_in/groups)*C_out + C_out: ``factors`` (empty:
    no weight) and ``bias`` (None: the formula has no bias term; 0: a layer built with ``bias=False``)."""

    factors: tuple[int, ...] = ()
    bias: int | None = None

    @property
    def total(self) -> int:
        product = int(np.prod(self.factors, dtype=np.int64)) if self.factors else 0
        return product + (self.bias or 0)


@dataclass(frozen=True)
class LayerGeometry:
    """A layer's answer to :meth:`Module.geometry` for one call (see the module docstring).

    ``explain=False`` keeps the layer out of the summary's formula list (its numbers still count)."""

    macs: int = 0
    window: object | None = None
    workspace_bytes: int = 0
    im2col_matrix: tuple[int, int, int] | None = None  # (C_in*kH*kW, H_out*W_out, N) elements
    params: ParamCount | None = None
    explain: bool = True
