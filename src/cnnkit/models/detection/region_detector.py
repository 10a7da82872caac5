"""What R-CNN, SPP-net and Fast R-CNN share: selective-search proposals (cached per image), a region head on them,
and per-stage timings; plus the SVM head of R-CNN and SPP-net.

    detector = RegionDetector(backbone, heads, SelectiveSearchProposals("fast"))
    losses = detector(images, targets)             # training: the head's losses
    detector.eval(); detections = detector(images) # [{"boxes", "scores", "labels"}, ...]
    detector.timings                               # seconds in eval: proposals, cnn, heads; and images

**SVM head** (:class:`SVMRoIHeads`, R-CNN and SPP-net). Each region's feature vector (fc7) comes from a
``pooler`` (SPP-net: the spatial pyramid on the shared feature map; R-CNN: the CNN on the warped region) and two
fully connected layers. Training, per batch, three losses:

- ``loss_classifier``: the fine-tuning softmax over K + 1 classes on the sampled regions (IoU >= 0.5 with an
  object: its class, else background); the only loss that reaches the CNN and the fully connected layers.
- ``loss_svm``: one linear SVM per class on the *detached* features (the features are fixed for the SVMs, as in
  the papers, where they were trained after fine-tuning). For class c a region is a positive (y = +1) when it is a
  ground-truth box of class c (the ground-truth boxes always join the sampled regions), a negative (y = -1) when
  its IoU with every class-c object is < 0.3, and ignored otherwise. The loss is the mean hinge
  max(0, 1 - y (w_c . x + b_c)) over the labelled pairs plus (lambda / 2) sum_c |w_c|^2. Simplification of the
  papers' hard-negative mining: the SVMs train online, each batch's negatives being a fresh random sample; the
  hinge is zero for negatives already beyond the margin, so only the hard ones (the violators) move the SVMs.
- ``loss_box_reg``: class-specific box regression on the detached features (smooth L1 of the (10, 10, 5, 5)
  weighted deltas of the regions with IoU >= 0.5), as the papers' post-hoc regressors.

Evaluation: per region and class the SVM score, reported as sigmoid(score) in [0, 1] (the same order), the
class's regressed box, per-class NMS, the ``detections_per_img`` best.

Timings (eval mode only, accumulated until :meth:`RegionDetector.reset_timings`): ``proposals`` selective search,
``cnn`` the convolutional layers (R-CNN: warping every region and running the CNN on it), ``heads`` the rest
(pooling regions, fully connected layers, classifiers, box decoding and NMS).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

import numpy as np

from ... import functional as F
from ... import nn, ops
from ...autograd import Tensor, no_grad
from ...errors import InputError
from .roi_heads import RoIHeads
from .targets import check_targets

__all__ = ["SelectiveSearchProposals", "RegionDetector", "SVMRoIHeads"]


class SelectiveSearchProposals:
    """Selective-search proposals (:func:`cnnkit.ops.selective_search`) of a batch of images, each at most
    ``max_proposals`` boxes, remembered by the image's content (a hash of its bytes; with the settings) for up to
    ``cache_size`` images: the training epochs see the same images again, and the proposals depend on nothing else."""

    def __init__(self, mode: str = "fast", max_proposals: int = 2000, cache_size: int = 20000):
        if mode not in ops.proposals.STRATEGIES:
            raise InputError(f"selective search: mode must be one of {', '.join(ops.proposals.STRATEGIES)}, "
                             f"got {mode!r}", field="proposals")
        self.mode, self.max_proposals, self.cache_size = mode, int(max_proposals), int(cache_size)
        self.cache: OrderedDict = OrderedDict()

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        out = []
        for image in images:
            image = np.ascontiguousarray(image)
            key = (hashlib.blake2b(image.tobytes(), digest_size=16).digest(), image.shape, self.mode,
                   self.max_proposals)
            boxes = self.cache.get(key)
            if boxes is None:
                boxes = ops.selective_search(image, mode=self.mode, max_proposals=self.max_proposals)
                if self.cache_size:
                    self.cache[key] = boxes
                    if len(self.cache) > self.cache_size:
                        self.cache.popitem(last=False)
            out.append(boxes)
        return out

    def clear(self) -> None:
        self.cache.clear()

    def __repr__(self) -> str:
        return f"SelectiveSearchProposals(mode={self.mode!r}, max_proposals={self.max_proposals})"


class RegionDetector(nn.Module):
    """``forward(images, targets=None)``: the backbone on the whole images (``nn.Identity()`` for R-CNN, whose CNN
    runs per region inside the head), proposals from ``proposer``, ``roi_heads`` on both. Training mode returns the
    head's dict of losses, eval mode a list of ``{"boxes", "scores", "labels"}`` NumPy arrays per image.
    ``timings`` holds the seconds spent per stage in eval mode (see the module docstring)."""

    def __init__(self, backbone: nn.Module, roi_heads: RoIHeads, proposer: SelectiveSearchProposals, name: str):
        super().__init__()
        self.backbone, self.roi_heads = backbone, roi_heads
        self.proposer, self.name = proposer, name
        self.reset_timings()

    def reset_timings(self) -> None:
        self.timings = {"proposals": 0.0, "cnn": 0.0, "heads": 0.0, "images": 0}

    def forward(self, images, targets=None):
        if not isinstance(images, Tensor):
            images = Tensor(np.asarray(images, np.float32))
        if images.ndim != 4:
            raise InputError(f"{self.name}: expected images (N, C, H, W), got shape {tuple(images.shape)}")
        if self.training:
            if targets is None:
                raise InputError(f"{self.name}: training mode needs targets (one dict of boxes and labels per image)")
            targets = check_targets(self.name, targets, images.shape[0], self.roi_heads.num_classes)
        image_size = tuple(int(v) for v in images.shape[-2:])
        t0 = time.perf_counter()
        proposals = self.proposer(images.data)
        if self.training:
            return self.roi_heads(self.backbone(images), proposals, image_size, targets)
        t1 = time.perf_counter()
        with no_grad():
            features = self.backbone(images)
        t2 = time.perf_counter()
        self.roi_heads.pool_seconds = 0.0
        detections = self.roi_heads(features, proposals, image_size)
        t3 = time.perf_counter()
        cnn_in_head = getattr(self.roi_heads, "pooler_runs_cnn", False) * self.roi_heads.pool_seconds
        self.timings["proposals"] += t1 - t0
        self.timings["cnn"] += t2 - t1 + cnn_in_head
        self.timings["heads"] += t3 - t2 - cnn_in_head
        self.timings["images"] += images.shape[0]
        return detections


class SVMRoIHeads(RoIHeads):
    """The region head of R-CNN and SPP-net (see the module docstring): ``pooler(features, boxes, image_size)``
    gives each region's (R, ``pooled_features``) vector, fc6 and fc7 of ``representation_size`` follow, then the
    fine-tuning softmax, the SVMs and the box regressor. ``pooler_runs_cnn``: whether the pooler's time is CNN
    time (R-CNN) rather than head time (SPP-net). ``svm_weight_decay`` is the SVMs' lambda; ``eval_chunk``
    regions at a time go through the pooler in eval mode (bounded memory with thousands of regions)."""

    def __init__(self, pooler: nn.Module, pooled_features: int, num_classes: int, representation_size: int = 256,
                 pooler_runs_cnn: bool = False, svm_weight_decay: float = 1e-3, neg_iou_thresh: float = 0.3,
                 eval_chunk: int = 512, **kwargs):
        super().__init__(1, num_classes, output_size=1, representation_size=representation_size, **kwargs)
        self.fc6 = nn.Linear(pooled_features, representation_size)
        self.pooler = pooler
        self.svm = nn.Linear(representation_size, num_classes)
        nn.init.zeros_(self.svm.weight)
        nn.init.zeros_(self.svm.bias)
        self.pooler_runs_cnn = bool(pooler_runs_cnn)
        self.svm_weight_decay, self.neg_iou_thresh = float(svm_weight_decay), float(neg_iou_thresh)
        self.eval_chunk = int(eval_chunk)
        self.pool_seconds = 0.0

    def box_features(self, features, proposals):
        boxes = [np.asarray(p, np.float32).reshape(-1, 4) for p in proposals]
        t0 = time.perf_counter()
        if self.training:
            x = self.pooler(features, boxes, self._image_size)
        else:  # a chunk of the regions at a time, possibly spanning images
            rois = ops.roi.convert_boxes_to_roi_format(boxes).astype(np.float32)
            parts = [self.pooler(features, rois[i:i + self.eval_chunk], self._image_size)
                     for i in range(0, max(len(rois), 1), self.eval_chunk)]
            x = parts[0] if len(parts) == 1 else F.cat(parts, 0)
        self.pool_seconds += time.perf_counter() - t0
        x = self.drop(F.relu(self.fc6(F.flatten(x, 1))))
        return self.drop(F.relu(self.fc7(x)))

    def forward(self, features, proposals, image_size, targets=None):
        if self.training:
            return super().forward(features, proposals, image_size, targets)
        if len(proposals) != features.shape[0]:
            raise InputError(f"SVMRoIHeads: expected one proposal array per image ({features.shape[0]}), got "
                             f"{len(proposals)}")
        self._image_size = tuple(int(v) for v in image_size)
        with no_grad():
            h = self.box_features(features, proposals)
            svm = self.svm(h).numpy()
            deltas = self.bbox_pred(h).numpy()
        scores = np.concatenate([np.zeros((len(svm), 1), np.float32), 1.0 / (1.0 + np.exp(-svm))], 1)
        return self.detections(scores, deltas, proposals)

    def svm_labels(self, regions: np.ndarray, gt: np.ndarray, gt_labels: np.ndarray) -> np.ndarray:
        """(R, K) SVM targets of one image's regions: +1 a class-c ground-truth box, -1 IoU < ``neg_iou_thresh``
        with every class-c object, 0 ignored."""
        y = -np.ones((len(regions), self.num_classes), np.float32)
        if len(gt) and len(regions):
            iou = ops.box_iou(regions, gt)
            for c in range(self.num_classes):
                own = gt_labels == c
                if own.any():
                    best = iou[:, own].max(1)
                    y[best >= self.neg_iou_thresh, c] = 0.0
                    exact = (np.abs(regions[:, None, :] - gt[None, own]).max(-1) < 1e-4).any(1)
                    y[exact, c] = 1.0
        return y

    def loss(self, features, proposals, targets) -> dict:
        regions, labels, box_targets = self.sample(proposals, targets)
        blocks, svm_y, sampled = [], [], []
        for r, t in zip(regions, targets, strict=True):
            block = np.concatenate([r, t["boxes"]]).astype(np.float32)
            blocks.append(block)
            svm_y.append(self.svm_labels(block, t["boxes"], t["labels"]))
            sampled.append(np.arange(len(block)) < len(r))
        sampled = np.nonzero(np.concatenate(sampled))[0]
        h = self.box_features(features, blocks)
        loss_classifier = F.cross_entropy(self.cls_score(h[sampled]), labels)
        fixed = h.detach()
        deltas = self.bbox_pred(fixed[sampled])
        pos = np.nonzero(labels > 0)[0]
        if len(pos):
            picked = deltas.reshape(len(labels), self.num_classes + 1, 4)[pos, labels[pos]]
            box_loss = F.smooth_l1_loss(picked, box_targets[pos], reduction="sum", beta=1 / 9) / len(labels)
        else:
            box_loss = (deltas[:1] * 0.0).sum()
        y = np.concatenate(svm_y)
        valid = (y != 0).astype(np.float32)
        hinge = (F.relu(1.0 - self.svm(fixed) * y) * valid).sum() / max(float(valid.sum()), 1.0)
        loss_svm = hinge + 0.5 * self.svm_weight_decay * (self.svm.weight * self.svm.weight).sum()
        return {"loss_classifier": loss_classifier, "loss_box_reg": box_loss, "loss_svm": loss_svm}
