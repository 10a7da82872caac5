"""Spatial pyramid pooling (SPP-net): a feature map of any size -> one fixed-length vector per image."""

from __future__ import annotations

from ..errors import InputError, InputTypeError
from . import _checks
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d
from .shape import cat, reshape

__all__ = ["spatial_pyramid_pool2d"]

_MODES = ("max", "avg")


def check_levels(op: str, levels) -> tuple[int, ...]:
    """A non-empty sequence of positive ints."""
    if isinstance(levels, (int, bool)) or not isinstance(levels, (tuple, list)) or not levels:
        raise InputTypeError(f"{op}: levels must be a non-empty sequence of positive ints, got {levels!r}")
    return tuple(_checks.integer(op, "each level", v, minimum=1) for v in levels)


def spatial_pyramid_pool2d(input, levels=(4, 2, 1), mode: str = "max"):  # noqa: A002 - PyTorch's names
    """Pool an (N, C, H, W) map into an l x l grid for each pyramid level l and concatenate the flattened grids:
    (N, C * sum(l^2)), level by level (each level's block ordered channel, row, column).

    The bins are adaptive pooling's, [floor(i*H/l), ceil((i+1)*H/l)), which cover the whole map for every size
    (the SPP-net paper's window ceil(H/l) with stride floor(H/l) can miss the last rows); H and W must be at least
    the largest level. ``mode``: 'max' (the paper's) or 'avg'."""
    op = "spatial_pyramid_pool2d"
    levels = check_levels(op, levels)
    if mode not in _MODES:
        raise InputError(f"{op}: mode must be 'max' or 'avg', got {mode!r}")
    x = _checks.tensor_arg(op, input)
    _checks.check_float(op, x)
    if x.ndim != 4:
        raise InputError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if min(x.shape[2:]) < max(levels):
        raise InputError(f"{op}: input of spatial size {tuple(x.shape[2:])} is smaller than the largest pyramid "
                         f"level {max(levels)}")
    pool = adaptive_max_pool2d if mode == "max" else adaptive_avg_pool2d
    n = x.shape[0]
    return cat([reshape(pool(x, level), (n, -1)) for level in levels], axis=1)
