"""Object detectors: each returns a dict of losses in training mode and ``[{"boxes", "scores", "labels"}, ...]``
in eval mode (torchvision's convention)."""

from .yolo import YOLOv1

__all__ = ["YOLOv1"]
