"""SPP-net for detection (He et al., 2014): the CNN runs once per image; each selective-search proposal's window
of the last feature map is pooled by a spatial pyramid into a fixed-length vector, then fc6, fc7, linear SVMs per
class and box regressors.

    model = spp_net(num_classes=3)                 # 64x64 scenes: small batch-norm backbone, stride 8
    losses = model(images, targets)                # loss_classifier (fine-tuning), loss_svm, loss_box_reg
    model.eval(); detections = model(images)

**The pyramid on a window** (:class:`WindowPyramidPool`): a proposal's corners are projected onto the feature map
(x * stride^-1, rounded to the nearest cell; the paper's projection up to its +-1 offsets) and the window of cells
they span is max-pooled into an l x l grid for every level l (default 4, 2, 1), the grids flattened level by level
(channel, row, column) and concatenated: C * sum(l^2) numbers for any window size. This is
:class:`cnnkit.nn.SpatialPyramidPool2d` applied to the cropped window (bins [floor(i h / l), ceil((i + 1) h / l)),
the test shows they agree), computed for all windows at once with :func:`cnnkit.ops.roi_pool` per level, whose
bins are those same adaptive bins; Fast R-CNN's RoI pooling is its one-level special case.

Unlike the paper, where only the fully connected layers were fine-tuned on top of an ImageNet-trained CNN, the
convolutional layers here train too (from scratch on the scenes, or from ``--init``); the SVMs and regressors
still see fixed (detached) features. Training and evaluation are those of
:class:`~cnnkit.models.detection.region_detector.SVMRoIHeads`.
"""

from __future__ import annotations

from ... import functional as F
from ... import nn, ops
from ...functional.spp import check_levels
from .backbones import shapes_backbone
from .region_detector import RegionDetector, SelectiveSearchProposals, SVMRoIHeads

__all__ = ["WindowPyramidPool", "spp_net"]


class WindowPyramidPool(nn.Module):
    """``forward(features, boxes, image_size)``: the spatial pyramid (max pooling, ``levels``) on each box's window
    of ``features`` -> (R, C * sum(l^2)); boxes in image pixels (a list of (L, 4) per image or a (K, 5) array),
    the feature stride read from the feature map and ``image_size``."""

    def __init__(self, levels=(4, 2, 1)):
        super().__init__()
        self.levels = check_levels("WindowPyramidPool", levels)

    def output_features(self, channels: int) -> int:
        return channels * sum(level * level for level in self.levels)

    def forward(self, features, boxes, image_size):
        scale = features.shape[-1] / image_size[1]
        parts = [F.flatten(ops.roi_pool(features, boxes, level, scale), 1) for level in self.levels]
        return parts[0] if len(parts) == 1 else F.cat(parts, 1)

    def extra_repr(self) -> str:
        return f"levels={self.levels}"


def spp_net(num_classes: int = 3, in_channels: int = 3, proposals: str = "fast", max_proposals: int = 2000,
            levels=(4, 2, 1), representation_size: int = 256, batch_size_per_image: int = 64,
            score_thresh: float = 0.05, nms_thresh: float = 0.3, detections_per_img: int = 100) -> RegionDetector:
    """SPP-net for ``num_classes`` object classes: the small batch-norm backbone (stride 8) once per image, the
    pyramid of ``levels`` on each of at most ``max_proposals`` selective-search windows, fc6 + fc7 of
    ``representation_size``, SVMs and box regressors; per-class NMS at ``nms_thresh``."""
    backbone = shapes_backbone(in_channels)
    pooler = WindowPyramidPool(levels)
    heads = SVMRoIHeads(pooler, pooler.output_features(backbone.out_channels), num_classes, representation_size,
                        batch_size_per_image=batch_size_per_image, score_thresh=score_thresh, nms_thresh=nms_thresh,
                        detections_per_img=detections_per_img)
    return RegionDetector(backbone, heads, SelectiveSearchProposals(proposals, max_proposals), "spp_net")
