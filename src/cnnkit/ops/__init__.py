"""Detection ops with torchvision.ops' names, signatures and semantics: boxes, NMS, RoI pooling and RoI align;
and region proposals by selective search (:mod:`cnnkit.ops.proposals`).

    from cnnkit.ops import box_iou, nms, roi_align

Each takes cnnkit Tensors or NumPy arrays and returns the same kind.
"""

from .boxes import (
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    nms,
    remove_small_boxes,
)
from .proposals import felzenszwalb, selective_search
from .roi import roi_align, roi_pool

__all__ = ["box_area", "box_iou", "generalized_box_iou", "box_convert", "clip_boxes_to_image",
           "remove_small_boxes", "nms", "batched_nms", "roi_pool", "roi_align",
           "felzenszwalb", "selective_search"]
