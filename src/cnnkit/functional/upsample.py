"""Nearest, bilinear, bicubic, antialiased and area interpolation (upsampling and downsampling) of (N, C, H, W)
tensors, PyTorch semantics.

Output size: ``size``, or floor(input_size * scale_factor). With a ``scale_factor`` the source positions use
1/scale_factor as the step (PyTorch's default), unless ``recompute_scale_factor=True``, which steps by
input_size/output_size as if the computed size had been given. See ``kernels/upsample.py`` for the index rules.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import Function
from ..errors import InputError, InputTypeError
from ..kernels import upsample as _k
from . import _checks
from .pool import adaptive_avg_pool2d

__all__ = ["interpolate"]

_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")
_INTERPOLATING = ("bilinear", "bicubic")
_OTHER_TORCH_MODES = ("linear", "trilinear")  # PyTorch's modes for 3-D and 5-D inputs


class Interpolate(Function):
    """Resample to ``size``: nearest copies the source pixel, bilinear blends the four neighbours, bicubic the
    sixteen, antialiased modes a window that grows with the downscale factor; backward scatters each output
    gradient back to the pixels it was read from, with the same weights. An empty batch gives an empty result."""

    def forward(self, x, size, scale_factor=None, mode="nearest", align_corners=False, antialias=False):
        self.shape, self.mode, self.align_corners, self.antialias = x.shape, mode, align_corners, antialias
        self.scales = scale_factor if scale_factor is not None else (None, None)
        if x.shape[0] == 0:
            return np.zeros(x.shape[:2] + tuple(size), dtype=x.dtype)
        if mode == "bicubic" or antialias:
            return _k.upsample_separable2d(x, size, mode, align_corners, self.scales, antialias)
        if mode == "bilinear":
            return _k.upsample_bilinear2d(x, size, align_corners, self.scales)
        return _k.upsample_nearest2d(x, size, self.scales, exact=mode == "nearest-exact")

    def backward(self, g):
        if self.shape[0] == 0:
            return np.zeros(self.shape, dtype=g.dtype)
        if self.mode == "bicubic" or self.antialias:
            return _k.upsample_separable2d_backward(g, self.shape, self.mode, self.align_corners, self.scales,
                                                    self.antialias)
        if self.mode == "bilinear":
            return _k.upsample_bilinear2d_backward(g, self.shape, self.align_corners, self.scales)
        return _k.upsample_nearest2d_backward(g, self.shape, self.scales, exact=self.mode == "nearest-exact")


def _pair_of(op, name, value, kind):
    """An int / real, or a sequence of two, as a pair (kind: 'int' or 'real')."""
    ok = (lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)) if kind == "int" else \
        (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool))
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"{op}: {name} must have one entry per spatial dimension (2 for an (N, C, H, W) "
                             f"input), got {value!r}")
        if not all(ok(v) for v in value):
            raise InputTypeError(f"{op}: {name} must hold {'ints' if kind == 'int' else 'numbers'}, got {value!r}")
        return tuple(value)
    if not ok(value):
        raise InputTypeError(f"{op}: {name} must be {'an int' if kind == 'int' else 'a number'} or a pair, "
                             f"got {value!r}")
    return (value, value)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias=False):
    """Resize an (N, C, H, W) tensor to ``size`` or by ``scale_factor`` (exactly one of them).

    Modes: 'nearest' (PyTorch's legacy rule, src = floor(dst * scale)), 'nearest-exact'
    (src = floor((dst + 0.5) * scale)), 'bilinear' and 'bicubic' (``align_corners`` False by default: pixel
    centres, src = (dst + 0.5) * scale - 0.5; True: corner pixels aligned, src = dst * (in - 1)/(out - 1); bicubic
    is PyTorch's cubic convolution with A = -0.75, reading the border pixel for taps outside the image) and 'area'
    (adaptive average pooling). ``antialias=True`` (bilinear and bicubic) widens the interpolation filter by the
    downscale factor, as PyTorch and Pillow, so that downsampling averages instead of skipping pixels.

    With ``scale_factor`` the output size is floor(size * scale_factor) and the source positions step by
    1/scale_factor (PyTorch's default), unless ``recompute_scale_factor=True``, which steps by input/output size
    as if the computed size had been given. Unlike PyTorch's, a 3-D input is not taken as (N, C, L): only the
    2-D spatial modes exist here."""
    op = "interpolate"
    x = _checks.tensor_arg(op, input)
    _checks.check_float(op, x)
    if mode not in _MODES:
        if mode in _OTHER_TORCH_MODES:
            raise InputError(f"{op}: mode {mode!r} is not supported; supported modes: {', '.join(_MODES)}")
        raise InputError(f"{op}: unknown mode {mode!r}; expected one of {', '.join(_MODES)}")
    if mode in _INTERPOLATING:
        align_corners = False if align_corners is None else _checks.boolean(op, "align_corners", align_corners)
    elif align_corners is not None:
        raise InputError(f"{op}: align_corners can only be set with the interpolating modes (bilinear, bicubic), "
                         f"got align_corners={align_corners!r} with mode={mode!r}")
    antialias = _checks.boolean(op, "antialias", antialias)
    if antialias and mode not in _INTERPOLATING:
        raise InputError(f"{op}: antialias=True is only supported with mode 'bilinear' or 'bicubic', got "
                         f"mode={mode!r}")
    if x.ndim != 4:
        raise InputError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if 0 in x.shape[1:]:
        raise InputError(f"{op}: input must have non-empty channel and spatial dimensions (only the batch may be "
                         f"empty), got shape {x.shape}")
    if (size is None) == (scale_factor is None):
        raise InputError(f"{op}: exactly one of size and scale_factor must be given, got "
                         f"{'both' if size is not None else 'neither'}")
    if recompute_scale_factor and size is not None:
        raise InputError(f"{op}: recompute_scale_factor is only meaningful with scale_factor, not with size")
    in_size = x.shape[2:]
    if size is not None:
        out_size = tuple(int(s) for s in _pair_of(op, "size", size, "int"))
        scales = None
    else:
        factors = tuple(float(f) for f in _pair_of(op, "scale_factor", scale_factor, "real"))
        if not all(math.isfinite(f) and f > 0 for f in factors):
            raise InputError(f"{op}: scale_factor must be positive and finite, got {scale_factor!r}")
        out_size = tuple(math.floor(n * f) for n, f in zip(in_size, factors, strict=True))
        scales = None if recompute_scale_factor or mode == "area" else factors
    if min(out_size) < 1:
        raise InputError(f"{op}: the output size must be positive, got {out_size} for an input of spatial size "
                         f"{tuple(in_size)}" + ("" if size is not None else f" and scale_factor={scale_factor!r}"))
    if mode == "area":
        return adaptive_avg_pool2d(x, out_size)
    return Interpolate.apply(x, size=out_size, scale_factor=scales, mode=mode,
                             align_corners=bool(align_corners) if mode in _INTERPOLATING else False,
                             antialias=antialias)
