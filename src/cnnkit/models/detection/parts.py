"""The parts the two-stage detectors share: anchors, the box coder, the IoU matcher and the balanced sampler.

    anchors = AnchorGenerator(sizes=(16, 24, 32))(image_size=(64, 64), feature_size=(8, 8))   # (8*8*9, 4)
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0)); deltas = coder.encode(gt_boxes, proposals)
    matches = Matcher(0.7, 0.3, allow_low_quality_matches=True)(box_iou(gt_boxes, anchors))
    pos, neg = BalancedPositiveNegativeSampler(256, 0.5)(labels)

All four follow torchvision's ``models.detection`` definitions and work on NumPy arrays: they compute targets and
proposals, which carry no gradient (Faster R-CNN's approximate joint training treats proposals as constants).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ...errors import InputError
from ...random import get_rng

__all__ = ["AnchorGenerator", "BoxCoder", "Matcher", "BalancedPositiveNegativeSampler", "default_anchor_sizes"]

# The paper's anchors (128, 256, 512 pixels) on images scaled to a 600-pixel shorter side, as fractions of it.
PAPER_ANCHOR_FRACTIONS = (128 / 600, 256 / 600, 512 / 600)


def default_anchor_sizes(image_size: int, fractions=PAPER_ANCHOR_FRACTIONS) -> tuple[float, ...]:
    """Anchor sizes for ``image_size``-pixel images: the paper's 3 sizes scaled (64 px -> 14, 27, 55)."""
    return tuple(float(round(image_size * f)) for f in fractions)


def _positive_numbers(op: str, name: str, values) -> tuple[float, ...]:
    if isinstance(values, numbers.Real):
        values = (values,)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{op}: {name} must be a sequence of positive numbers, got {values!r}") from None
    if not out or not all(math.isfinite(v) and v > 0 for v in out):
        raise InputError(f"{op}: {name} must be a non-empty sequence of positive numbers, got {values!r}")
    return out


class AnchorGenerator:
    """Anchors of one feature map: ``len(sizes) * len(aspect_ratios)`` per position (9 by default).

    Base anchors are centred on 0: for ratio ``r = h / w`` and size ``s``, ``w = s / sqrt(r)``, ``h = s * sqrt(r)``
    (area ``s^2``), box ``round((-w/2, -h/2, w/2, h/2))``, ordered ratio-major as torchvision. Each is shifted to
    every feature position ``(x * stride_w, y * stride_h)`` with ``stride = image_size // feature_size``; the
    anchors come position-major: index ``(y * W + x) * A + a``, the order of an (N, A*k, H, W) head after
    permuting to (N, H, W, A, k)."""

    def __init__(self, sizes=(128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0)):
        self.sizes = _positive_numbers("AnchorGenerator", "sizes", sizes)
        self.aspect_ratios = _positive_numbers("AnchorGenerator", "aspect_ratios", aspect_ratios)
        self.cell_anchors = self.base_anchors()
        self._cache: dict = {}

    @property
    def num_anchors_per_location(self) -> int:
        return len(self.sizes) * len(self.aspect_ratios)

    def base_anchors(self) -> np.ndarray:
        """(A, 4) zero-centred anchors, float32."""
        scales = np.asarray(self.sizes, np.float64)
        h_ratios = np.sqrt(np.asarray(self.aspect_ratios, np.float64))
        w_ratios = 1.0 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2).astype(np.float32)

    def __call__(self, image_size, feature_size) -> np.ndarray:
        """(H * W * A, 4) anchors in image pixels for an image of ``image_size`` (h, w) whose feature map is
        ``feature_size`` (h, w)."""
        key = (tuple(int(v) for v in image_size), tuple(int(v) for v in feature_size))
        if key not in self._cache:
            (ih, iw), (fh, fw) = key
            if min(ih, iw, fh, fw) < 1:
                raise InputError(f"AnchorGenerator: image and feature sizes must be positive, got {key}")
            sy, sx = ih // fh, iw // fw
            ys, xs = np.meshgrid(np.arange(fh, dtype=np.float32) * sy, np.arange(fw, dtype=np.float32) * sx,
                                 indexing="ij")
            shifts = np.stack([xs.ravel(), ys.ravel(), xs.ravel(), ys.ravel()], axis=1)
            self._cache[key] = (shifts[:, None, :] + self.cell_anchors[None, :, :]).reshape(-1, 4)
        return self._cache[key]

    def __repr__(self) -> str:
        return f"AnchorGenerator(sizes={self.sizes}, aspect_ratios={self.aspect_ratios})"


class BoxCoder:
    """Faster R-CNN's box parameterisation with weights ``(wx, wy, ww, wh)``: for a reference box of centre
    ``(xa, ya)`` and size ``(wa, ha)`` and a target box ``(x, y, w, h)``,

        dx = wx (x - xa) / wa,  dy = wy (y - ya) / ha,  dw = ww log(w / wa),  dh = wh log(h / ha).

    (1, 1, 1, 1) for the RPN, (10, 10, 5, 5) for the box heads (the regression targets then have unit-ish
    variance). Decoding clamps dw, dh at ``bbox_xform_clip`` = log(1000/16) so that exp cannot overflow."""

    def __init__(self, weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip: float = math.log(1000.0 / 16)):
        self.weights = _positive_numbers("BoxCoder", "weights", weights)
        if len(self.weights) != 4:
            raise InputError(f"BoxCoder: weights must be 4 numbers (wx, wy, ww, wh), got {weights!r}")
        self.bbox_xform_clip = float(bbox_xform_clip)

    @staticmethod
    def _centres(boxes: np.ndarray):
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h

    def encode(self, boxes, reference) -> np.ndarray:
        """Deltas (N, 4) that take ``reference`` (N, 4) boxes to ``boxes`` (N, 4), both xyxy."""
        boxes, reference = np.asarray(boxes, np.float32), np.asarray(reference, np.float32)
        wx, wy, ww, wh = self.weights
        x, y, w, h = self._centres(boxes)
        xa, ya, wa, ha = self._centres(reference)
        return np.stack([wx * (x - xa) / wa, wy * (y - ya) / ha, ww * np.log(w / wa), wh * np.log(h / ha)],
                        axis=-1).astype(np.float32)

    def decode(self, deltas, reference) -> np.ndarray:
        """Boxes from ``deltas`` (N, 4 * C) applied to ``reference`` (N, 4): (N, C, 4) xyxy (C = 1 for the RPN,
        one box per class for a class-specific head)."""
        deltas, reference = np.asarray(deltas, np.float32), np.asarray(reference, np.float32)
        if deltas.ndim != 2 or deltas.shape[1] % 4 or deltas.shape[0] != reference.shape[0]:
            raise InputError(f"BoxCoder.decode: expected deltas (N, 4*C) for {reference.shape[0]} reference boxes, "
                             f"got shape {deltas.shape}")
        d = deltas.reshape(deltas.shape[0], -1, 4)
        wx, wy, ww, wh = self.weights
        xa, ya, wa, ha = (v[:, None] for v in self._centres(reference))
        dw = np.minimum(d[..., 2] / ww, self.bbox_xform_clip)
        dh = np.minimum(d[..., 3] / wh, self.bbox_xform_clip)
        x = d[..., 0] / wx * wa + xa
        y = d[..., 1] / wy * ha + ya
        w, h = np.exp(dw) * wa, np.exp(dh) * ha
        return np.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], axis=-1).astype(np.float32)


class Matcher:
    """Assigns each prediction (anchor or proposal) the ground-truth box it overlaps most, from an IoU matrix
    (M ground truths x N predictions): ``matches[n]`` is that box's index when its IoU >= ``high_threshold``,
    ``BELOW_LOW_THRESHOLD`` (-1, background) when the IoU < ``low_threshold`` and ``BETWEEN_THRESHOLDS`` (-2,
    ignored) in between. With ``allow_low_quality_matches`` every ground truth also keeps the predictions of its
    highest IoU (ties included), matched to their own best box, so that no object is left without an anchor (the
    RPN: 0.7 / 0.3 with it; the box head: 0.5 / 0.5 without). A ground truth that overlaps nothing (best IoU 0)
    claims no prediction. With no ground truth every prediction is background."""

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(self, high_threshold: float, low_threshold: float, allow_low_quality_matches: bool = False):
        if not 0 <= low_threshold <= high_threshold <= 1:
            raise InputError(f"Matcher: thresholds must satisfy 0 <= low <= high <= 1, got low={low_threshold}, "
                             f"high={high_threshold}")
        self.high_threshold, self.low_threshold = float(high_threshold), float(low_threshold)
        self.allow_low_quality_matches = bool(allow_low_quality_matches)

    def __call__(self, quality) -> np.ndarray:
        quality = np.asarray(quality)
        if quality.ndim != 2:
            raise InputError(f"Matcher: expected an (M ground truths, N predictions) matrix, got shape "
                             f"{quality.shape}")
        if quality.shape[0] == 0:
            return np.full(quality.shape[1], self.BELOW_LOW_THRESHOLD, np.int64)
        if quality.shape[1] == 0:
            return np.zeros(0, np.int64)
        best = quality.max(axis=0)
        all_matches = quality.argmax(axis=0).astype(np.int64)
        matches = all_matches.copy()
        matches[best < self.low_threshold] = self.BELOW_LOW_THRESHOLD
        matches[(best >= self.low_threshold) & (best < self.high_threshold)] = self.BETWEEN_THRESHOLDS
        if self.allow_low_quality_matches:
            highest = quality.max(axis=1)
            _, preds = np.nonzero((quality == highest[:, None]) & (highest[:, None] > 0))
            matches[preds] = all_matches[preds]
        return matches


class BalancedPositiveNegativeSampler:
    """Draws at most ``batch_size_per_image`` examples of an image with at most ``positive_fraction`` of them
    positive (fewer positives leave room for more negatives): from labels > 0 (positive), == 0 (negative) and < 0
    (ignored). Random choices come from cnnkit's seeded generator."""

    def __init__(self, batch_size_per_image: int, positive_fraction: float):
        if isinstance(batch_size_per_image, bool) or not isinstance(batch_size_per_image, numbers.Integral) or \
                batch_size_per_image < 1:
            raise InputError(f"BalancedPositiveNegativeSampler: batch_size_per_image must be an int >= 1, got "
                             f"{batch_size_per_image!r}")
        if not 0 <= positive_fraction <= 1:
            raise InputError(f"BalancedPositiveNegativeSampler: positive_fraction must be in [0, 1], got "
                             f"{positive_fraction!r}")
        self.batch_size_per_image, self.positive_fraction = int(batch_size_per_image), float(positive_fraction)

    def __call__(self, labels) -> tuple[np.ndarray, np.ndarray]:
        """(positive indices, negative indices) of one image's ``labels``."""
        labels = np.asarray(labels)
        positive, negative = np.nonzero(labels > 0)[0], np.nonzero(labels == 0)[0]
        num_pos = min(int(self.batch_size_per_image * self.positive_fraction), positive.size)
        num_neg = min(self.batch_size_per_image - num_pos, negative.size)
        rng = get_rng()
        return (np.sort(rng.choice(positive, num_pos, replace=False)),
                np.sort(rng.choice(negative, num_neg, replace=False)))
