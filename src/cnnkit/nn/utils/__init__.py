"""Model utilities: inference fusion (see :mod:`.fusion`)."""

from .fusion import PendingConv, fuse_conv_bn, fusion_enabled, lazy_conv2d

__all__ = ["PendingConv", "fuse_conv_bn", "fusion_enabled", "lazy_conv2d"]
