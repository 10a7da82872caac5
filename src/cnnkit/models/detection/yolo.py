"""YOLOv1 (Redmon et al., "You Only Look Once", 2016): one pass from the image to an S x S x (B*5 + C) grid.

The image is divided into an S x S grid; the cell holding an object's centre is responsible for it. Each cell
predicts B boxes of five numbers and one set of C class probabilities. The grid tensor (``YOLOv1.predict_grid``)
holds, per cell, ``[x, y, sqrt(w), sqrt(h), confidence] * B + [p(class 1 | object) ... p(class C | object)]``:

- ``x, y``: the box centre relative to the cell, in [0, 1] (a sigmoid of the head's output);
- ``sqrt(w), sqrt(h)``: square roots of the width and height relative to the image, in [0, 1] (a sigmoid). The
  network predicts the square roots, so the paper's ``(sqrt w - sqrt w_hat)^2`` terms act directly on its
  outputs and the width itself is ``sqrt(w)^2``;
- ``confidence``: trained towards Pr(object) * IoU(predicted box, truth) (a sigmoid);
- class probabilities Pr(class | object): a softmax over the C classes of the cell.

Head: the paper ends in two fully connected layers; here the backbone's feature map (average-pooled to S x S when
it is larger) goes through a 3x3 conv + batch norm + leaky ReLU (0.1) and a 1x1 conv to B*5 + C channels, one
position per cell. The convolutional head keeps each cell's prediction local, has far fewer parameters and works
for any grid the feature map allows.

Loss (the paper's sum of squared errors, summed over the batch and divided by the number of images)::

      lambda_coord * sum_ij 1obj_ij [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
    + sum_ij 1obj_ij (C_ij - C^_ij)^2  +  lambda_noobj * sum_ij 1noobj_ij C_ij^2
    + sum_i 1obj_i sum_c (p_i(c) - p^_i(c))^2

with lambda_coord = 5, lambda_noobj = 0.5. ``1obj_i``: an object's centre falls in cell i; ``1obj_ij``: of
that cell's B predictors, j has the highest IoU with the truth (ties: the first); ``1noobj_ij = 1 - 1obj_ij``.
The confidence target ``C^`` is that IoU (the paper, ``confidence_target="iou"``; a constant, no gradient flows
through it) or 1 (``"one"``). Each cell has one set of class probabilities, so it holds one object: when several
centres fall in one cell, the largest object is kept. The four terms are returned as ``loss_coord``, ``loss_obj``,
``loss_noobj`` and ``loss_class``.

Decoding (eval mode): class-specific confidence = confidence x Pr(class | object) for every box and class; pairs
scoring above ``score_thresh`` are kept, boxes clipped to the image, per-class NMS (``iou_thresh``) and the
``detections_per_img`` best returned as ``{"boxes" (K, 4) xyxy pixels, "scores" (K,), "labels" (K,) 0-based}``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ... import functional as F
from ... import nn
from ...autograd import Tensor
from ...errors import InputError
from ...ops import batched_nms
from .backbones import named_backbone
from .targets import check_targets

__all__ = ["YOLOv1", "yolov1", "encode_targets", "yolo_loss", "decode_grid", "grid_boxes"]

_CONF_TARGETS = ("iou", "one")


def grid_boxes(boxes: np.ndarray, S: int) -> np.ndarray:
    """The predicted boxes of a grid as normalised xyxy (image = [0, 1]^2): ``boxes`` (..., S, S, B, 4) holds
    ``(x, y, sqrt w, sqrt h)`` per predictor, x and y relative to the cell of row i, column j."""
    cols = np.arange(S, dtype=boxes.dtype)[None, :, None]
    rows = np.arange(S, dtype=boxes.dtype)[:, None, None]
    cx = (cols + boxes[..., 0]) / S
    cy = (rows + boxes[..., 1]) / S
    w, h = boxes[..., 2] ** 2, boxes[..., 3] ** 2
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a`` (..., 4) with ``b`` (..., 4), elementwise over the broadcast leading shape (0 for an
    empty union)."""
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
             - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def encode_targets(grid: np.ndarray, targets, image_size: tuple[int, int], B: int, num_classes: int,
                   confidence_target: str = "iou") -> dict:
    """The constant targets of :func:`yolo_loss` for a predicted ``grid`` (N, S, S, B*5 + C) (an array: the
    assignment uses the predictions but no gradient flows through it) and per-image ``{"boxes", "labels"}`` in
    pixels of an image of ``image_size`` (H, W).

    Returns ``responsible`` (N, S, S, B) 1obj_ij, ``cell`` (N, S, S) 1obj_i, ``box`` (N, S, S, 4) the truth as
    (x, y, sqrt w, sqrt h), ``confidence`` (N, S, S, B) and ``classes`` (N, S, S, C) one-hot.
    """
    if confidence_target not in _CONF_TARGETS:
        raise InputError(f"YOLOv1: confidence_target must be one of {_CONF_TARGETS}, got {confidence_target!r}")
    n, S = grid.shape[0], grid.shape[1]
    targets = check_targets("YOLOv1", targets, n, num_classes)
    height, width = image_size
    dtype = grid.dtype
    cell = np.zeros((n, S, S), dtype)
    box = np.zeros((n, S, S, 4), dtype)
    classes = np.zeros((n, S, S, num_classes), dtype)
    responsible = np.zeros((n, S, S, B), dtype)
    confidence = np.zeros((n, S, S, B), dtype)
    predicted = grid_boxes(grid[..., :B * 5].reshape(n, S, S, B, 5)[..., :4].astype(np.float64), S)
    for i, target in enumerate(targets):
        boxes, labels = target["boxes"].astype(np.float64), target["labels"]
        if not len(boxes):
            continue
        norm = boxes / np.array([width, height, width, height])
        cx, cy = (norm[:, 0] + norm[:, 2]) / 2, (norm[:, 1] + norm[:, 3]) / 2
        w, h = norm[:, 2] - norm[:, 0], norm[:, 3] - norm[:, 1]
        col = np.clip((cx * S).astype(np.int64), 0, S - 1)
        row = np.clip((cy * S).astype(np.int64), 0, S - 1)
        for k in np.argsort(w * h, kind="stable"):  # larger objects last: they win a shared cell
            r, c = row[k], col[k]
            cell[i, r, c] = 1
            box[i, r, c] = (cx[k] * S - c, cy[k] * S - r, np.sqrt(w[k]), np.sqrt(h[k]))
            classes[i, r, c] = 0
            classes[i, r, c, labels[k]] = 1
            ious = _pairwise_iou(predicted[i, r, c], norm[k])
            best = int(np.argmax(ious))
            responsible[i, r, c] = 0
            responsible[i, r, c, best] = 1
            confidence[i, r, c] = 0
            confidence[i, r, c, best] = ious[best] if confidence_target == "iou" else 1.0
    return {"responsible": responsible, "cell": cell, "box": box, "confidence": confidence, "classes": classes}


def yolo_loss(grid, encoded: dict, B: int, lambda_coord: float = 5.0, lambda_noobj: float = 0.5) -> dict:
    """The paper's four loss terms (see the module docstring) of a predicted ``grid`` Tensor (N, S, S, B*5 + C)
    against :func:`encode_targets`' arrays, each summed over the batch and divided by N."""
    n, S = grid.shape[0], grid.shape[1]
    dtype = grid.dtype

    def const(name):
        return Tensor(np.asarray(encoded[name], dtype))

    boxes = grid[..., :B * 5].reshape(n, S, S, B, 5)
    probs = grid[..., B * 5:]
    responsible = const("responsible")
    coord_err = ((boxes[..., :4] - const("box").reshape(n, S, S, 1, 4)) ** 2).sum(axis=-1)
    conf = boxes[..., 4]
    return {
        "loss_coord": (responsible * coord_err).sum() * (lambda_coord / n),
        "loss_obj": (responsible * (conf - const("confidence")) ** 2).sum() * (1.0 / n),
        "loss_noobj": ((1.0 - responsible) * conf ** 2).sum() * (lambda_noobj / n),
        "loss_class": (const("cell").reshape(n, S, S, 1) * (probs - const("classes")) ** 2).sum() * (1.0 / n),
    }


def decode_grid(grid: np.ndarray, image_size: tuple[int, int], B: int, score_thresh: float = 0.05,
                iou_thresh: float = 0.5, detections_per_img: int = 100) -> list[dict]:
    """Detections of a predicted grid (N, S, S, B*5 + C) array: class-specific confidence = confidence x
    Pr(class | object), threshold, boxes in pixels clipped to the image, per-class NMS, the best
    ``detections_per_img``."""
    n, S = grid.shape[0], grid.shape[1]
    height, width = image_size
    scale = np.array([width, height, width, height], np.float64)
    results = []
    for i in range(n):
        cells = grid[i, :, :, :B * 5].reshape(S, S, B, 5).astype(np.float64)
        boxes = (grid_boxes(cells[..., :4], S) * scale).reshape(-1, 4)
        boxes = np.clip(boxes, 0, scale)
        scores = (cells[..., 4, None] * grid[i, :, :, None, B * 5:]).reshape(boxes.shape[0], -1)
        which, label = np.nonzero(scores > score_thresh)
        box, score = boxes[which], scores[which, label]
        keep = batched_nms(box, score, label, iou_thresh)[:detections_per_img]
        results.append({"boxes": box[keep].astype(np.float32), "scores": score[keep].astype(np.float32),
                        "labels": label[keep].astype(np.int64)})
    return results


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"YOLOv1: {name} must be a positive int, got {value!r}")
    return int(value)


class YOLOv1(nn.Module):
    """YOLOv1 on any backbone (a Module from images (N, C_in, H, W) to features (N, ``out_channels``, h, w)).

    ``model(images, targets)`` in training mode returns the loss dict, ``model(images)`` in eval mode the
    detections; :meth:`predict_grid` gives the S x S x (B*5 + C) tensor (see the module docstring). Images must
    divide into the grid (H and W multiples of S) and the features must be at least S x S.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, S: int = 7, B: int = 2, *,
                 out_channels: int | None = None, head_channels: int = 256, lambda_coord: float = 5.0,
                 lambda_noobj: float = 0.5, confidence_target: str = "iou", score_thresh: float = 0.05,
                 iou_thresh: float = 0.5, detections_per_img: int = 100):
        super().__init__()
        self.num_classes, self.S, self.B = (_positive_int("num_classes", num_classes), _positive_int("S", S),
                                            _positive_int("B", B))
        out_channels = out_channels if out_channels is not None else getattr(backbone, "out_channels", None)
        if out_channels is None:
            raise InputError("YOLOv1: give out_channels (the backbone's feature channels); the backbone has no "
                             "out_channels attribute")
        if confidence_target not in _CONF_TARGETS:
            raise InputError(f"YOLOv1: confidence_target must be one of {_CONF_TARGETS}, got {confidence_target!r}")
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.Conv2d(out_channels, head_channels, 3, padding=1, bias=False), nn.BatchNorm2d(head_channels),
            nn.LeakyReLU(0.1), nn.Conv2d(head_channels, B * 5 + num_classes, 1))
        self.lambda_coord, self.lambda_noobj = float(lambda_coord), float(lambda_noobj)
        self.confidence_target = confidence_target
        self.score_thresh, self.iou_thresh = float(score_thresh), float(iou_thresh)
        self.detections_per_img = _positive_int("detections_per_img", detections_per_img)

    def _check_images(self, images) -> tuple[int, int]:
        if not isinstance(images, Tensor) or images.ndim != 4:
            shape = images.shape if hasattr(images, "shape") else type(images).__name__
            raise InputError(f"YOLOv1: expected images as a Tensor (N, C, H, W), got {shape}")
        height, width = images.shape[2:]
        if height % self.S or width % self.S:
            raise InputError(f"YOLOv1: image size {height}x{width} does not divide into the {self.S}x{self.S} "
                             f"grid (height and width must be multiples of {self.S})")
        return height, width

    def predict_grid(self, images):
        """The S x S x (B*5 + C) prediction tensor (N, S, S, B*5 + C) (see the module docstring)."""
        self._check_images(images)
        features = self.backbone(images)
        h, w = features.shape[2:]
        if (h, w) != (self.S, self.S):
            if h < self.S or w < self.S:
                raise InputError(f"YOLOv1: the backbone's {h}x{w} feature map is smaller than the "
                                 f"{self.S}x{self.S} grid; use larger images or a smaller grid")
            features = F.adaptive_avg_pool2d(features, self.S)
        raw = self.head(features).permute(0, 2, 3, 1)
        split = self.B * 5
        return F.cat([F.sigmoid(raw[..., :split]), F.softmax(raw[..., split:], dim=-1)], axis=-1)

    def forward(self, images, targets=None):
        image_size = self._check_images(images)
        grid = self.predict_grid(images)
        if self.training:
            if targets is None:
                raise InputError("YOLOv1: training mode needs targets (one {'boxes', 'labels'} dict per image)")
            encoded = encode_targets(grid.data, targets, image_size, self.B, self.num_classes,
                                     self.confidence_target)
            return yolo_loss(grid, encoded, self.B, self.lambda_coord, self.lambda_noobj)
        return decode_grid(grid.data, image_size, self.B, self.score_thresh, self.iou_thresh,
                           self.detections_per_img)

    def extra_repr(self) -> str:
        return f"S={self.S}, B={self.B}, num_classes={self.num_classes}"


def yolov1(num_classes: int = 3, in_channels: int = 3, backbone: str = "shapes", S: int = 8, B: int = 2,
           **kwargs) -> YOLOv1:
    """YOLOv1 for ``num_classes`` object classes. ``backbone``: ``"shapes"`` (a small batch-norm net, stride 8: an
    8x8 grid of 8-pixel cells on 64x64 scenes) or the name of a zoo classifier whose feature stages are taken (its
    feature map must be at least S x S). Other keyword arguments go to :class:`YOLOv1`."""
    return YOLOv1(named_backbone(backbone, in_channels, "yolov1"), num_classes, S=S, B=B, **kwargs)
