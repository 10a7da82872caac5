"""Fast R-CNN (Girshick, 2015): the CNN once per image, RoI max pooling of each selective-search proposal to 7 x 7,
two fully connected layers, then a class softmax and class-specific box regression trained together with the
multi-task loss (cross-entropy + smooth L1), all layers at once.

    model = fast_rcnn(num_classes=3)               # 64x64 scenes: small batch-norm backbone, stride 8
    losses = model(images, targets)                # loss_classifier, loss_box_reg
    model.eval(); detections = model(images)

The head is Faster R-CNN's :class:`~cnnkit.models.detection.roi_heads.RoIHeads` (Faster R-CNN is this model with
the proposals from a Region Proposal Network instead of selective search).
"""

from __future__ import annotations

from .backbones import shapes_backbone
from .region_detector import RegionDetector, SelectiveSearchProposals
from .roi_heads import RoIHeads

__all__ = ["fast_rcnn"]


def fast_rcnn(num_classes: int = 3, in_channels: int = 3, proposals: str = "fast", max_proposals: int = 2000,
              pool: str = "pool", representation_size: int = 256, batch_size_per_image: int = 64,
              score_thresh: float = 0.05, nms_thresh: float = 0.3, detections_per_img: int = 100) -> RegionDetector:
    """Fast R-CNN for ``num_classes`` object classes: the small batch-norm backbone (stride 8), at most
    ``max_proposals`` selective-search proposals, RoI pooling (``pool``: "pool" as in the paper, or "align"), fc6
    + fc7 of ``representation_size``, softmax + box regression; ``batch_size_per_image`` regions per training image
    (a quarter objects at most); per-class NMS at ``nms_thresh`` (the paper's 0.3)."""
    backbone = shapes_backbone(in_channels)
    heads = RoIHeads(backbone.out_channels, num_classes, pool=pool, representation_size=representation_size,
                     batch_size_per_image=batch_size_per_image, score_thresh=score_thresh, nms_thresh=nms_thresh,
                     detections_per_img=detections_per_img)
    return RegionDetector(backbone, heads, SelectiveSearchProposals(proposals, max_proposals), "fast_rcnn")
