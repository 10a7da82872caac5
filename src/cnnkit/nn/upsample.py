"""Upsampling layers (``F.interpolate``)."""

from __future__ import annotations

from .. import functional as F
from ..errors import InputError
from .geometry import AdaptiveWindow, LayerCall, LayerGeometry, Resize
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resize NCHW input to ``size`` or by ``scale_factor`` with ``mode`` ('nearest', 'bilinear', ...)."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None):
        super().__init__()
        if size is not None and scale_factor is not None:
            raise InputError(f"{type(self).__name__}: only one of size or scale_factor should be defined, "
                             f"got size={size!r} and scale_factor={scale_factor!r}")
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        extra = {} if self.recompute_scale_factor is None else {"recompute_scale_factor": self.recompute_scale_factor}
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners, **extra)

    def geometry(self, call: LayerCall) -> LayerGeometry:
        """Interpolation from the call's input size to its output size: each output reads one input pixel per
        axis (nearest) or two (bilinear), and neighbouring outputs are in/out input pixels apart; 'area' is
        adaptive average pooling. No MACs."""
        in_hw, out_hw = call.input_shape[-2:], call.output_shape[-2:]
        if self.mode == "area":
            return LayerGeometry(window=AdaptiveWindow(in_hw, out_hw))
        taps = tuple(2 if self.mode == "bilinear" and i != o else 1 for i, o in zip(in_hw, out_hw, strict=True))
        return LayerGeometry(window=Resize(in_hw, out_hw, taps))

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling (``Upsample(mode='nearest')``)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with ``align_corners=True`` (as PyTorch's layer of that name)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
