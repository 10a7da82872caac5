"""Region layers of the detectors: RoI pooling, RoI align (torchvision.ops' modules) and spatial pyramid pooling."""

from __future__ import annotations

from .. import functional as F
from .. import ops
from ..errors import InputError
from ..functional import _checks
from ..functional.spp import check_levels
from .module import Module

__all__ = ["RoIPool", "RoIAlign", "SpatialPyramidPool2d"]


class RoIPool(Module):
    """:func:`cnnkit.ops.roi_pool` as a layer: ``forward(input, rois)``."""

    def __init__(self, output_size, spatial_scale: float = 1.0):
        super().__init__()
        self.output_size = _checks.positive_pair("RoIPool", "output_size", output_size)
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):  # noqa: A002
        return ops.roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


class RoIAlign(Module):
    """:func:`cnnkit.ops.roi_align` as a layer: ``forward(input, rois)``."""

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int, aligned: bool = False):
        super().__init__()
        self.output_size = _checks.positive_pair("RoIAlign", "output_size", output_size)
        self.spatial_scale = spatial_scale
        self.sampling_ratio = _checks.integer("RoIAlign", "sampling_ratio", sampling_ratio)
        self.aligned = _checks.boolean("RoIAlign", "aligned", aligned)

    def forward(self, input, rois):  # noqa: A002
        return ops.roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")


class SpatialPyramidPool2d(Module):
    """SPP-net's spatial pyramid: (N, C, H, W) of any size >= the largest level -> (N, C * sum(l^2)).
    See :func:`cnnkit.functional.spatial_pyramid_pool2d`."""

    def __init__(self, levels=(4, 2, 1), mode: str = "max"):
        super().__init__()
        self.levels = check_levels("SpatialPyramidPool2d", levels)
        if mode not in ("max", "avg"):
            raise InputError(f"SpatialPyramidPool2d: mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode

    def output_features(self, channels: int) -> int:
        """Length of the output vector for ``channels`` input channels: channels * sum(l^2)."""
        return channels * sum(level * level for level in self.levels)

    def forward(self, input):  # noqa: A002
        return F.spatial_pyramid_pool2d(input, self.levels, self.mode)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}"
