"""Faster R-CNN's Region Proposal Network.

A 3x3 convolution slides over the backbone's feature map; at each position two 1x1 convolutions give, for each of
the A anchors, 2 objectness scores (object / not object, a 2-way softmax as in the paper) and 4 box deltas. The
proposals are the anchors moved by their deltas, clipped to the image, without tiny boxes, the ``pre_nms_top_n``
most object-like kept, NMS at 0.7, then the best ``post_nms_top_n``. Training: anchors matched to the ground truth
(IoU >= 0.7 object, < 0.3 background, plus each object's best anchors), 256 sampled per image with up to half
objects; loss = cross-entropy of the objectness + smooth-L1 (beta 1/9) of the object anchors' deltas, both over
the sampled anchors. Proposals carry no gradient (approximate joint training).
"""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ... import nn, ops
from ...autograd import no_grad
from .parts import AnchorGenerator, BalancedPositiveNegativeSampler, BoxCoder, Matcher

__all__ = ["RPNHead", "RegionProposalNetwork"]


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then per anchor 2 objectness logits (``cls_logits``, channel ``2a + k``) and 4 deltas
    (``bbox_pred``, channel ``4a + j``)."""

    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, 2 * num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        h = F.relu(self.conv(x))
        return self.cls_logits(h), self.bbox_pred(h)


def _per_anchor(t, k: int):
    """(N, A*k, H, W) -> (N, H*W*A, k): the anchors' order of :class:`AnchorGenerator`."""
    n, c, h, w = t.shape
    return t.reshape(n, c // k, k, h, w).permute(0, 3, 4, 1, 2).reshape(n, h * w * (c // k), k)


class RegionProposalNetwork(nn.Module):
    """``forward(features, image_size, targets=None) -> (proposals, losses)``: proposals a list of (P, 4) float32
    arrays per image; losses ``{"loss_objectness", "loss_rpn_box_reg"}`` in training mode, else empty."""

    def __init__(self, anchor_generator: AnchorGenerator, in_channels: int, fg_iou_thresh: float = 0.7,
                 bg_iou_thresh: float = 0.3, batch_size_per_image: int = 256, positive_fraction: float = 0.5,
                 pre_nms_top_n=(2000, 1000), post_nms_top_n=(2000, 1000), nms_thresh: float = 0.7,
                 min_size: float = 1e-3):
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = RPNHead(in_channels, anchor_generator.num_anchors_per_location)
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self.pre_nms_top_n, self.post_nms_top_n = tuple(pre_nms_top_n), tuple(post_nms_top_n)
        self.nms_thresh, self.min_size = float(nms_thresh), float(min_size)

    def _top_n(self, values) -> int:
        return values[0] if self.training else values[1]

    def filter_proposals(self, boxes: np.ndarray, scores: np.ndarray, image_size) -> np.ndarray:
        """One image's proposals from its decoded anchors (K, 4) and object probabilities (K,)."""
        order = np.argsort(-scores, kind="stable")[: self._top_n(self.pre_nms_top_n)]
        boxes, scores = ops.clip_boxes_to_image(boxes[order], image_size), scores[order]
        keep = ops.remove_small_boxes(boxes, self.min_size)
        boxes, scores = boxes[keep], scores[keep]
        keep = ops.nms(boxes, scores, self.nms_thresh)[: self._top_n(self.post_nms_top_n)]
        return boxes[keep].astype(np.float32)

    def forward(self, features, image_size, targets=None):
        logits, deltas = self.head(features)
        n, _, fh, fw = features.shape
        anchors = self.anchor_generator(image_size, (fh, fw))
        logits, deltas = _per_anchor(logits, 2), _per_anchor(deltas, 4)  # (N, K, 2), (N, K, 4)
        with no_grad():
            objectness = F.softmax(logits, dim=2).numpy()[..., 1]
            d = deltas.numpy()
        proposals = [self.filter_proposals(self.box_coder.decode(d[i], anchors)[:, 0], objectness[i], image_size)
                     for i in range(n)]
        if not self.training or targets is None:
            return proposals, {}
        return proposals, self.loss(logits, deltas, anchors, targets)

    def loss(self, logits, deltas, anchors: np.ndarray, targets) -> dict:
        n, k = logits.shape[:2]
        sampled, labels, positive, box_targets = [], [], [], []
        for i, t in enumerate(targets):
            gt = t["boxes"]
            matches = self.matcher(ops.box_iou(gt, anchors) if len(gt) else np.zeros((0, k), np.float32))
            image_labels = np.where(matches >= 0, 1, np.where(matches == Matcher.BELOW_LOW_THRESHOLD, 0, -1))
            pos, neg = self.sampler(image_labels)
            sampled += [i * k + pos, i * k + neg]
            labels += [np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)]
            positive.append(i * k + pos)
            if len(pos):
                box_targets.append(self.box_coder.encode(gt[matches[pos]], anchors[pos]))
        sampled, labels, positive = np.concatenate(sampled), np.concatenate(labels), np.concatenate(positive)
        loss_objectness = F.cross_entropy(logits.reshape(n * k, 2)[sampled], labels)
        flat = deltas.reshape(n * k, 4)
        if len(positive):
            box_loss = F.smooth_l1_loss(flat[positive], np.concatenate(box_targets), reduction="sum", beta=1 / 9)
        else:
            box_loss = (flat[:1] * 0.0).sum()
        return {"loss_objectness": loss_objectness, "loss_rpn_box_reg": box_loss / max(len(sampled), 1)}
