"""Nearest and bilinear interpolation (upsampling and downsampling) of (N, C, H, W) tensors, PyTorch semantics.

Output size: ``size``, or floor(input_size * scale_factor). With a ``scale_factor`` the source positions use
1/scale_factor as the step (PyTorch's default), unless ``recompute_scale_factor=True``, which steps by
input_size/output_size as if the computed size had been given. See ``kernels/upsample.py`` for the index rules.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError, InputTypeError
from ..kernels import upsample as _k
from .pool import adaptive_avg_pool2d

__all__ = ["interpolate"]

_MODES = ("nearest", "nearest-exact", "bilinear", "area")
_OTHER_TORCH_MODES = ("linear", "bicubic", "trilinear")


class Interpolate(Function):
    """Resample to ``size``: nearest copies the source pixel, bilinear blends the four neighbours; backward
    scatters each output gradient back to the pixels it was read from (bilinear: with the four weights)."""

    def forward(self, x, size, scale_factor=None, mode="nearest", align_corners=False):
        self.shape, self.mode, self.align_corners = x.shape, mode, align_corners
        self.scales = scale_factor if scale_factor is not None else (None, None)
        if mode == "bilinear":
            return _k.upsample_bilinear2d(x, size, align_corners, self.scales)
        return _k.upsample_nearest2d(x, size, self.scales, exact=mode == "nearest-exact")

    def backward(self, g):
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
    (src = floor((dst + 0.5) * scale)), 'bilinear' (``align_corners`` False by default: pixel centres
    src = (dst + 0.5) * scale - 0.5; True: corner pixels aligned, src = dst * (in - 1)/(out - 1)) and 'area'
    (adaptive average pooling)."""
    op = "interpolate"
    if isinstance(input, Tensor):
        data = input.data
    elif isinstance(input, np.ndarray):
        data = input
    else:
        raise InputTypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if data.dtype.kind != "f":
        raise InputTypeError(f"{op}: expected a floating-point input, got dtype {data.dtype}")
    if mode not in _MODES:
        if mode in _OTHER_TORCH_MODES:
            raise InputError(f"{op}: mode {mode!r} is not supported; supported modes: {', '.join(_MODES)}")
        raise InputError(f"{op}: unknown mode {mode!r}; expected one of {', '.join(_MODES)}")
    if mode == "bilinear":
        if align_corners is None:
            align_corners = False
        if not isinstance(align_corners, (bool, np.bool_)):
            raise InputTypeError(f"{op}: align_corners must be a bool, got {align_corners!r}")
    elif align_corners is not None:
        raise InputError(f"{op}: align_corners can only be set with the interpolating modes (bilinear), "
                         f"got align_corners={align_corners!r} with mode={mode!r}")
    if antialias:
        raise InputError(f"{op}: antialias=True is not supported")
    if data.ndim != 4:
        raise InputError(f"{op}: expected a 4-D input (N, C, H, W), got shape {data.shape}")
    if (size is None) == (scale_factor is None):
        raise InputError(f"{op}: exactly one of size and scale_factor must be given, got "
                         f"{'both' if size is not None else 'neither'}")
    if recompute_scale_factor and size is not None:
        raise InputError(f"{op}: recompute_scale_factor is only meaningful with scale_factor, not with size")
    in_size = data.shape[2:]
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
        return adaptive_avg_pool2d(input, out_size)
    return Interpolate.apply(input, size=out_size, scale_factor=scales, mode=mode,
                             align_corners=bool(align_corners) if mode == "bilinear" else False)
