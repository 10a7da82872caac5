"""R-CNN (Girshick et al., 2014): selective-search proposals, each region warped to the CNN's input and run through
the CNN on its own, linear SVMs per class on its features and class-specific box regressors.

    model = rcnn(num_classes=3)                    # 64x64 scenes: regions warped to 32x32, a small conv net
    losses = model(images, targets)                # loss_classifier (fine-tuning), loss_svm, loss_box_reg
    model.eval(); detections = model(images)       # [{"boxes", "scores", "labels"}, ...] NumPy arrays

**Crop and warp** (the paper's "warp" with context padding p): each proposal is enlarged about its centre so that,
once warped anisotropically to ``crop_size`` x ``crop_size``, the original box fills the central
``crop_size - 2p`` pixels and p pixels of surrounding context frame it (the paper: p = 16 at 227; here p =
``context``, 4 at 32 by default). The warp samples the image bilinearly at the centres of the output pixels
(:func:`cnnkit.ops.roi_align` with ``aligned=True`` and one sample per bin); where the enlarged box leaves the image
the image's mean colour fills in (the paper's mean-subtracted zeros).

The CNN runs once per region: with ~100-2000 proposals per image that is R-CNN's cost, and the point of SPP-net
and Fast R-CNN. Training (one stage through the common trainer instead of the paper's three) and evaluation are
those of :class:`~cnnkit.models.detection.region_detector.SVMRoIHeads`.
"""

from __future__ import annotations

import numpy as np

from ... import nn, ops
from ...autograd import Tensor
from ...errors import InputError
from .backbones import shapes_backbone
from .region_detector import RegionDetector, SelectiveSearchProposals, SVMRoIHeads

__all__ = ["WarpedRegions", "context_boxes", "rcnn"]


def context_boxes(boxes: np.ndarray, crop_size: int, context: int) -> np.ndarray:
    """Boxes (R, 4) enlarged about their centres by crop_size / (crop_size - 2 context) in each direction, so that
    after warping to ``crop_size`` the original box spans the central ``crop_size - 2 context`` pixels."""
    scale = crop_size / (crop_size - 2.0 * context)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    return np.concatenate([centre - half, centre + half], 1)


class WarpedRegions(nn.Module):
    """The R-CNN pooler: ``forward(images, boxes, image_size)`` warps every region (boxes: a list of (L, 4) per
    image or a (K, 5) array of (image index, x1, y1, x2, y2)) with its context to ``crop_size`` squares and runs
    ``cnn`` on them; returns (R, ...) CNN outputs."""

    def __init__(self, cnn: nn.Module, crop_size: int = 32, context: int = 4):
        super().__init__()
        if not 0 <= 2 * context < crop_size:
            raise InputError(f"rcnn: context padding must be >= 0 and less than half the crop size ({crop_size}), "
                             f"got {context}")
        self.cnn, self.crop_size, self.context = cnn, int(crop_size), int(context)

    def warp(self, images: np.ndarray, boxes) -> np.ndarray:
        """(R, C, crop_size, crop_size) warped regions of ``images`` (N, C, H, W) ndarray."""
        rois = ops.roi.convert_boxes_to_roi_format(boxes) if isinstance(boxes, (list, tuple)) else \
            np.asarray(boxes, np.float64)
        rois = np.concatenate([rois[:, :1], context_boxes(rois[:, 1:], self.crop_size, self.context)], 1)
        mean = images.mean(axis=(2, 3), keepdims=True)
        crops = ops.roi_align(np.ascontiguousarray(images - mean), rois, self.crop_size, 1.0, sampling_ratio=1,
                              aligned=True)
        return (crops + mean[rois[:, 0].astype(np.int64)]).astype(np.float32)

    def forward(self, images, boxes, image_size):
        data = images.data if isinstance(images, Tensor) else np.asarray(images, np.float32)
        return self.cnn(Tensor(self.warp(data, boxes)))

    def extra_repr(self) -> str:
        return f"crop_size={self.crop_size}, context={self.context}"


def rcnn(num_classes: int = 3, in_channels: int = 3, proposals: str = "fast", max_proposals: int = 2000,
         crop_size: int = 32, context: int = 4, widths=(16, 32, 64), representation_size: int = 256,
         batch_size_per_image: int = 32, score_thresh: float = 0.05, nms_thresh: float = 0.3,
         detections_per_img: int = 100) -> RegionDetector:
    """R-CNN for ``num_classes`` object classes: selective search (``proposals`` mode, at most ``max_proposals``),
    regions warped to ``crop_size`` with ``context`` pixels of context, a small batch-norm conv net of ``widths``
    (stride 8) + fc6 + fc7 of ``representation_size`` per region, SVMs and box regressors; ``batch_size_per_image``
    sampled regions per training image (a quarter objects at most), per-class NMS at ``nms_thresh`` (the paper's
    0.3)."""
    cnn = shapes_backbone(in_channels, widths=tuple(widths))
    side = crop_size // 8
    if side < 1:
        raise InputError(f"rcnn: crop_size must be >= 8, got {crop_size}")
    pooler = WarpedRegions(cnn, crop_size, context)
    heads = SVMRoIHeads(pooler, cnn.out_channels * side * side, num_classes, representation_size,
                        pooler_runs_cnn=True, batch_size_per_image=batch_size_per_image, score_thresh=score_thresh,
                        nms_thresh=nms_thresh, detections_per_img=detections_per_img)
    return RegionDetector(nn.Identity(), heads, SelectiveSearchProposals(proposals, max_proposals), "rcnn")

