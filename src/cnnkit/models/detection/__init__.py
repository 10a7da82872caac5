"""Object detectors and their parts (torchvision's conventions: a dict of losses in training mode, a list of
``{"boxes", "scores", "labels"}`` per image in eval mode; labels are 0-based object classes)."""

from .backbones import (
    Backbone,
    classifier_backbone,
    freeze_backbone,
    load_backbone_weights,
    named_backbone,
    shapes_backbone,
)
from .faster_rcnn import FasterRCNN, faster_rcnn
from .parts import AnchorGenerator, BalancedPositiveNegativeSampler, BoxCoder, Matcher, default_anchor_sizes
from .roi_heads import RoIHeads, empty_detections
from .rpn import RegionProposalNetwork, RPNHead
from .targets import check_targets
from .yolo import YOLOv1, yolov1

__all__ = ["AnchorGenerator", "BoxCoder", "Matcher", "BalancedPositiveNegativeSampler", "default_anchor_sizes",
           "Backbone", "shapes_backbone", "classifier_backbone", "named_backbone", "load_backbone_weights",
           "freeze_backbone", "RPNHead", "RegionProposalNetwork", "RoIHeads", "empty_detections", "check_targets",
           "FasterRCNN", "faster_rcnn", "YOLOv1", "yolov1"]
