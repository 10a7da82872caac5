"""RoI pooling (Fast R-CNN) and RoI align (Mask R-CNN) with torchvision.ops' signatures and semantics.

``boxes`` is a (K, 5) Tensor/array of (batch_index, x1, y1, x2, y2), or a list of (L_i, 4) boxes, one entry per
image of the batch (torchvision's two forms). Boxes are in input-image coordinates; ``spatial_scale`` maps them to
the feature map (1/16 for a stride-16 backbone). Both return (K, C, PH, PW) and pass gradients to ``input`` (not
to the boxes). The rules are written out in :mod:`cnnkit.kernels.roi`.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function, Tensor
from ..errors import InputError, InputTypeError
from ..functional import _checks
from ..kernels import roi as _k

__all__ = ["roi_pool", "roi_align", "convert_boxes_to_roi_format"]


class RoIPoolFunction(Function):
    """Max over each region's bins; backward routes every output gradient to the element that won."""

    def forward(self, x, rois, output_size=(1, 1), spatial_scale=1.0):
        self.shape, self.rois = x.shape, rois
        out, self.argmax = _k.roi_pool_forward(x, rois, output_size, spatial_scale)
        return out

    def backward(self, g):
        return _k.roi_pool_backward(g, self.rois, self.argmax, self.shape), None


class RoIAlignFunction(Function):
    """Mean of bilinear samples per bin; backward scatters each output gradient to the samples' neighbours."""

    def forward(self, x, rois, output_size=(1, 1), spatial_scale=1.0, sampling_ratio=-1, aligned=False):
        self.shape, self.rois = x.shape, rois
        self.spatial_scale, self.sampling_ratio, self.aligned = spatial_scale, sampling_ratio, aligned
        return _k.roi_align_forward(x, rois, output_size, spatial_scale, sampling_ratio, aligned)

    def backward(self, g):
        return _k.roi_align_backward(g, self.rois, self.shape, self.spatial_scale, self.sampling_ratio,
                                     self.aligned), None


def _array(op: str, value, what: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    raise InputTypeError(f"{op}: {what} must be a Tensor or ndarray, got {type(value).__name__}")


def convert_boxes_to_roi_format(boxes) -> np.ndarray:
    """A list of (L_i, 4) boxes -> one (sum L_i, 5) float64 array of (i, x1, y1, x2, y2)."""
    parts = []
    for i, b in enumerate(boxes):
        a = _array("roi", b, f"boxes[{i}]")
        if a.ndim != 2 or a.shape[1] != 4:
            raise InputError(f"roi: boxes[{i}] must have shape (L, 4), got {a.shape}")
        parts.append(np.concatenate([np.full((a.shape[0], 1), i, np.float64), a.astype(np.float64)], axis=1))
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 5), np.float64)


def _rois(op: str, boxes, batch: int) -> np.ndarray:
    """Check ``boxes`` (a (K, 5) array or a list of (L, 4) ones) and return the (K, 5) float64 regions."""
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != batch:
            raise InputError(f"{op}: boxes as a list needs one (L, 4) entry per image, got {len(boxes)} entries "
                             f"for a batch of {batch}")
        rois = convert_boxes_to_roi_format(boxes)
    else:
        a = _array(op, boxes, "boxes")
        if a.ndim != 2 or a.shape[1] != 5:
            raise InputError(f"{op}: boxes must be a (K, 5) array of (batch_index, x1, y1, x2, y2) or a list of "
                             f"(L, 4) arrays, got shape {a.shape}")
        rois = a.astype(np.float64)
    if rois.dtype.kind not in "fiu":
        raise InputTypeError(f"{op}: boxes must hold numbers, got dtype {rois.dtype}")
    if not np.all(np.isfinite(rois)):
        raise InputError(f"{op}: boxes must be finite, got NaN or infinity")
    index = rois[:, 0]
    bad = (index != np.floor(index)) | (index < 0) | (index >= batch)
    if bad.any():
        raise InputError(f"{op}: batch index {index[bad][0]:g} of box {int(np.nonzero(bad)[0][0])} is not an "
                         f"image of the batch (0 .. {batch - 1})")
    return rois


def _common(op, input, output_size, spatial_scale):  # noqa: A002 - torchvision's names
    x = _checks.tensor_arg(op, input)
    _checks.check_float(op, x, exact=True)
    if x.ndim != 4:
        raise InputError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if 0 in x.shape[1:]:
        raise InputError(f"{op}: input must have non-empty channel and spatial dimensions, got shape {x.shape}")
    size = _checks.positive_pair(op, "output_size", output_size)
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, numbers.Real) or not (
            np.isfinite(spatial_scale) and spatial_scale > 0):
        raise InputError(f"{op}: spatial_scale must be a positive number, got {spatial_scale!r}")
    return x, size, float(spatial_scale)


def roi_pool(input, boxes, output_size, spatial_scale: float = 1.0):  # noqa: A002 - torchvision's names
    """RoI max pooling: each region's window (corners rounded to the feature grid) split into ``output_size``
    bins, each the maximum of its elements (0 when empty). Returns (K, C, PH, PW)."""
    op = "roi_pool"
    x, size, scale = _common(op, input, output_size, spatial_scale)
    rois = _rois(op, boxes, x.shape[0])
    return RoIPoolFunction.apply(x, rois, output_size=size, spatial_scale=scale)


def roi_align(input, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,  # noqa: A002
              aligned: bool = False):
    """RoI align: each bin the mean of bilinear samples on a regular grid (``sampling_ratio`` per side, or
    ceil(bin size) when -1); ``aligned=True`` shifts the box by half a pixel so that pixel centres line up.
    Returns (K, C, PH, PW)."""
    op = "roi_align"
    x, size, scale = _common(op, input, output_size, spatial_scale)
    ratio = _checks.integer(op, "sampling_ratio", sampling_ratio)
    aligned = _checks.boolean(op, "aligned", aligned)
    rois = _rois(op, boxes, x.shape[0])
    return RoIAlignFunction.apply(x, rois, output_size=size, spatial_scale=scale, sampling_ratio=ratio,
                                  aligned=aligned)
