"""Detection datasets: items ``(image (C, S, S) float32, {"boxes": (K, 4) float32 xyxy, "labels": (K,) int64})``.

- ``shapes``: :class:`~cnnkit.data.synthetic.ShapeScenes` scenes of 0-4 circles, squares and triangles.
- Annotation folders, each read into images resized to ``size`` x ``size`` with their boxes scaled alike (so
  batches stack): :class:`VOCDetection` (Pascal VOC XML), :class:`YOLODetection` (YOLO txt) and
  :class:`COCODetection` (COCO JSON). Every target is checked when the folder is opened (boxes finite with
  x1 <= x2 and y1 <= y2, labels within the classes); a malformed file is one :class:`~cnnkit.errors.InputError`
  naming the file and its line (YOLO), element (VOC) or key (COCO).
"""

from __future__ import annotations

from ..errors import InputError

__all__ = ["shape_scenes_bundle", "SHAPES_TRAIN", "SHAPES_TEST"]

SHAPES_TRAIN, SHAPES_TEST = 2000, 500  # scenes in the generated train and test sets


def shape_scenes_bundle(image_size: int | None = None):
    """The ``shapes`` dataset for detection: seeded ShapeScenes (64 x 64 unless ``image_size``; 0-4 objects, some
    images empty), train and test drawn from different streams."""
    from .registry import DataBundle, DataInfo
    from .synthetic import ShapeScenes

    size = image_size or 64
    if size < 16:
        raise InputError(f"dataset 'shapes' for detection: image size must be >= 16, got {size}", field="image_size")
    train = ShapeScenes(n=SHAPES_TRAIN, size=size, seed=0, train=True, target="boxes")
    test = ShapeScenes(n=SHAPES_TEST, size=size, seed=0, train=False, target="boxes")
    info = DataInfo(3, size, len(ShapeScenes.classes), tuple(ShapeScenes.classes))
    return DataBundle("shapes", "detection", train, test, info, None)
