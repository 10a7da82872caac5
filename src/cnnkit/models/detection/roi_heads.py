"""The Fast R-CNN head on region proposals: RoI pooling -> two fully connected layers -> class softmax and
class-specific box regression. It takes proposals from anywhere (an RPN, or selective search for Fast R-CNN).

Training (per image): the ground-truth boxes join the proposals; each is matched to the object it overlaps most
(IoU >= 0.5: that object's class, else background); ``batch_size_per_image`` regions are sampled with up to
``positive_fraction`` objects; loss = cross-entropy over the K + 1 classes + smooth-L1 (beta 1/9) of the true
class's deltas (weights 10, 10, 5, 5) on the object regions, summed and divided by the number of regions.
Evaluation: softmax scores, one decoded box per class, clipped; boxes with score <= ``score_thresh`` or smaller
than 0.01 px dropped; NMS per class at ``nms_thresh``; the ``detections_per_img`` best kept.
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ... import nn, ops
from ...autograd import no_grad
from ...errors import InputError
from .parts import BalancedPositiveNegativeSampler, BoxCoder, Matcher

__all__ = ["RoIHeads", "empty_detections"]


def empty_detections() -> dict:
    return {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32),
            "labels": np.zeros(0, np.int64)}


class RoIHeads(nn.Module):
    """``forward(features, proposals, image_size, targets=None)``: ``proposals`` one (P, 4) xyxy array per image
    in image pixels. Training mode returns ``{"loss_classifier", "loss_box_reg"}``, eval mode a list of
    ``{"boxes", "scores", "labels"}`` NumPy arrays per image (labels 0-based object classes). ``pool`` is
    ``"pool"`` (RoIPool, Fast R-CNN) or ``"align"`` (RoIAlign, sampling ratio 2); the feature stride is read from
    the feature map (``spatial_scale`` = feature size / image size)."""

    def __init__(self, in_channels: int, num_classes: int, pool: str = "pool", output_size: int = 7,
                 representation_size: int = 1024, fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.5,
                 batch_size_per_image: int = 512, positive_fraction: float = 0.25, score_thresh: float = 0.05,
                 nms_thresh: float = 0.5, detections_per_img: int = 100, dropout: float = 0.0):
        super().__init__()
        if pool not in ("pool", "align"):
            raise InputError(f"RoIHeads: pool must be 'pool' (RoIPool) or 'align' (RoIAlign), got {pool!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"RoIHeads: num_classes must be an int >= 1 (object classes), got {num_classes!r}")
        self.num_classes, self.pool, self.output_size = num_classes, pool, int(output_size)
        self.fc6 = nn.Linear(in_channels * self.output_size ** 2, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.cls_score = nn.Linear(representation_size, num_classes + 1)
        self.bbox_pred = nn.Linear(representation_size, 4 * (num_classes + 1))
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.box_coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self.score_thresh, self.nms_thresh = float(score_thresh), float(nms_thresh)
        self.detections_per_img = int(detections_per_img)

    def box_features(self, features, proposals):
        """(R, representation_size) features of the regions (a list of (P, 4) arrays, one per image)."""
        scale = features.shape[-1] / self._image_size[1]
        boxes = [np.asarray(p, np.float32).reshape(-1, 4) for p in proposals]
        if self.pool == "pool":
            x = ops.roi_pool(features, boxes, self.output_size, scale)
        else:
            x = ops.roi_align(features, boxes, self.output_size, scale, sampling_ratio=2)
        x = self.drop(F.relu(self.fc6(F.flatten(x, 1))))
        return self.drop(F.relu(self.fc7(x)))

    def forward(self, features, proposals, image_size, targets=None):
        if len(proposals) != features.shape[0]:
            raise InputError(f"RoIHeads: expected one proposal array per image ({features.shape[0]}), got "
                             f"{len(proposals)}")
        self._image_size = tuple(int(v) for v in image_size)
        if self.training:
            if targets is None:
                raise InputError("RoIHeads: training mode needs targets (one dict of boxes and labels per image)")
            return self.loss(features, proposals, targets)
        with no_grad():
            h = self.box_features(features, proposals)
            scores = F.softmax(self.cls_score(h), dim=1).numpy()
            deltas = self.bbox_pred(h).numpy()
        return self.detections(scores, deltas, proposals)

    def detections(self, scores: np.ndarray, deltas: np.ndarray, proposals) -> list[dict]:
        """Per image, the post-processed detections of its slice of the concatenated region ``scores`` (R, K + 1)
        and ``deltas``."""
        out, start = [], 0
        for p in proposals:
            stop = start + len(p)
            out.append(self.postprocess(scores[start:stop], deltas[start:stop], np.asarray(p, np.float32)))
            start = stop
        return out

    def sample(self, proposals, targets):
        """Per image: the sampled regions, their class labels (0 background) and regression targets."""
        regions, labels, box_targets = [], [], []
        for p, t in zip(proposals, targets, strict=True):
            gt, gt_labels = t["boxes"], t["labels"]
            boxes = np.concatenate([np.asarray(p, np.float32).reshape(-1, 4), gt])
            if len(gt):
                matches = self.matcher(ops.box_iou(gt, boxes))
                cls = np.where(matches >= 0, gt_labels[np.maximum(matches, 0)] + 1, 0)
                cls[matches == Matcher.BETWEEN_THRESHOLDS] = -1
            else:
                matches, cls = np.full(len(boxes), -1), np.zeros(len(boxes), np.int64)
            pos, neg = self.sampler(cls)
            keep = np.concatenate([pos, neg])
            target = np.zeros((len(keep), 4), np.float32)
            if len(pos):
                target[: len(pos)] = self.box_coder.encode(gt[matches[pos]], boxes[pos])
            regions.append(boxes[keep])
            labels.append(cls[keep].astype(np.int64))
            box_targets.append(target)
        return regions, np.concatenate(labels), np.concatenate(box_targets)

    def loss(self, features, proposals, targets) -> dict:
        regions, labels, box_targets = self.sample(proposals, targets)
        h = self.box_features(features, regions)
        logits, deltas = self.cls_score(h), self.bbox_pred(h)
        loss_classifier = F.cross_entropy(logits, labels)
        pos = np.nonzero(labels > 0)[0]
        if len(pos):
            picked = deltas.reshape(len(labels), self.num_classes + 1, 4)[pos, labels[pos]]
            box_loss = F.smooth_l1_loss(picked, box_targets[pos], reduction="sum", beta=1 / 9)
        else:
            box_loss = (deltas[:1] * 0.0).sum()
        return {"loss_classifier": loss_classifier, "loss_box_reg": box_loss / len(labels)}

    def postprocess(self, scores: np.ndarray, deltas: np.ndarray, proposals: np.ndarray) -> dict:
        """One image's detections from its regions' class probabilities (R, K+1) and deltas (R, 4(K+1))."""
        if len(proposals) == 0:
            return empty_detections()
        boxes = ops.clip_boxes_to_image(self.box_coder.decode(deltas, proposals), self._image_size)[:, 1:]
        scores, classes = scores[:, 1:], np.broadcast_to(np.arange(self.num_classes), scores[:, 1:].shape)
        boxes, scores, classes = boxes.reshape(-1, 4), scores.reshape(-1), classes.reshape(-1)
        keep = np.nonzero(scores > self.score_thresh)[0]
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        keep = ops.remove_small_boxes(boxes, 1e-2)
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        keep = ops.batched_nms(boxes, scores, classes, self.nms_thresh)[: self.detections_per_img]
        return {"boxes": boxes[keep].astype(np.float32), "scores": scores[keep].astype(np.float32),
                "labels": classes[keep].astype(np.int64)}
