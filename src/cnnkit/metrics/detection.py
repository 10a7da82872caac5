"""Detection metrics: average precision per class and its mean (Pascal VOC and COCO definitions).

``update(preds, targets)``: ``preds`` a list per image of ``{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,)}``
(a detector's eval-mode output), ``targets`` a list per image of ``{"boxes": (M, 4), "labels": (M,)}`` with an
optional ``"difficult"`` (M,) bool. Labels are 0-based class indices. Each image's detections are matched to its
ground truth when the image arrives, so the state is one small record per detection (score, class, whether it is a
true positive at each IoU threshold) plus per-class ground-truth counts: memory grows with the detections only.

Matching, per image and class, detections taken by decreasing score (IoU: intersection / union of the boxes as
continuous coordinates, no "+1" pixel convention):

- **VOC** (IoU >= 0.5): a detection goes to the ground-truth box it overlaps most. If that IoU reaches the
  threshold and the box is unclaimed, the detection is a true positive and claims it; a box already claimed
  makes it a false positive (a duplicate), as does too small an IoU. A detection whose box is "difficult" is
  ignored.
- **COCO** (IoU 0.50, 0.55, ..., 0.95, at most ``max_detections`` = 100 per image and class): a detection goes to
  the unclaimed box of highest IoU >= the threshold, preferring non-difficult boxes; none: a false positive.

AP from the detections of a class sorted by score (precision p = TP / (TP + FP), recall r = TP / #GT):

- VOC2010+ all-point: AP = sum_i (r_i - r_{i-1}) * p_interp(r_i), with p_interp(r) = max_{r' >= r} p(r');
- VOC2007 11-point: AP = (1/11) * sum_{t in 0, 0.1, ..., 1} max_{r >= t} p(r) (0 when no recall reaches t);
- COCO: 101 recall points t in 0, 0.01, ..., 1, each the interpolated precision at the first recall >= t (0 when
  none), averaged; mAP@[.5:.95] averages that over the 10 thresholds and the classes.

A class without ground truth has no AP (NaN) and is left out of every mean, as VOC and COCO do; a class with
ground truth but no detections has AP 0.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError, StateDictError
from ._inputs import check_int
from .base import Metric

__all__ = ["MeanAveragePrecision", "MeanAP50", "average_precision", "COCO_IOU_THRESHOLDS"]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def average_precision(recall, precision, method: str = "all") -> float:
    """AP of one class from its cumulative recall and precision (detections sorted by decreasing score):
    ``method`` "all" (VOC2010+ all-point), "11" (VOC2007 11-point) or "coco" (101-point). No detections: 0."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if recall.size == 0:
        return 0.0
    if method == "11":
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                              for t in np.arange(11) / 10]))  # t = i/10 exactly
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # p_interp(r_i) = max over r' >= r_i
    if method == "all":
        steps = np.diff(np.concatenate([[0.0], recall]))
        return float(np.sum(steps * envelope))
    if method == "coco":
        idx = np.searchsorted(recall, COCO_RECALL_POINTS, side="left")
        return float(np.mean(np.where(idx < recall.size, envelope[np.minimum(idx, recall.size - 1)], 0.0)))
    raise InputError(f"average_precision: method must be 'all', '11' or 'coco', got {method!r}")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU (len(a), len(b)) of xyxy boxes; 0 where both boxes have no area."""
    from ..ops import box_iou

    return np.nan_to_num(box_iou(a.astype(np.float64), b.astype(np.float64)), nan=0.0)


def _match_voc(iou: np.ndarray, difficult: np.ndarray, threshold: float) -> np.ndarray:
    """Per detection (rows, by decreasing score): 1 true positive, 0 false positive, -1 ignored (difficult). Each
    detection's box is its arg-max; among the detections that reach ``threshold`` on the same box, only the first
    (highest score) claims it, which is the devkit's sequential loop in one pass."""
    flags = np.zeros(iou.shape[0], np.int8)
    if iou.shape[1] == 0:
        return flags
    best = np.argmax(iou, axis=1)
    hit = np.flatnonzero(iou[np.arange(iou.shape[0]), best] >= threshold)
    ignored = difficult[best[hit]]
    flags[hit[ignored]] = -1
    hit = hit[~ignored]
    _, first = np.unique(best[hit], return_index=True)
    flags[hit[first]] = 1
    return flags


def _match_coco(iou: np.ndarray, difficult: np.ndarray, thresholds: np.ndarray, max_det: int) -> np.ndarray:
    """(D, T) flags as pycocotools' evaluateImg decides them: 1 matched, 0 unmatched, -1 ignored (matched a
    difficult box, or beyond the first ``max_det`` detections)."""
    n_det, n_gt = iou.shape
    flags = np.zeros((n_det, thresholds.size), np.int8)
    flags[max_det:] = -1
    if n_gt == 0:
        return flags
    claimed = np.zeros((thresholds.size, n_gt), bool)
    reach = np.minimum(thresholds, 1 - 1e-10)[:, None]
    for d in range(min(n_det, max_det)):
        candidates = ~claimed & (iou[d][None, :] >= reach)  # (T, G)
        for t in np.flatnonzero(candidates.any(axis=1)):
            usable = candidates[t] & ~difficult
            if not usable.any():
                usable = candidates[t]
            score = np.where(usable, iou[d], -1.0)
            g = n_gt - 1 - int(np.argmax(score[::-1]))  # the last of equal IoUs, as pycocotools' loop keeps it
            claimed[t, g] = True
            flags[d, t] = -1 if difficult[g] else 1
    return flags


class MeanAveragePrecision(Metric):
    """Pascal VOC and COCO average precision per class and their means (see the module docstring).

    ``MeanAveragePrecision(num_classes, iou_threshold=0.5, coco=True, max_detections=100)``. ``compute()`` returns
    a dict: ``map50`` (VOC all-point mAP at ``iou_threshold``), ``map50_11pt`` (VOC2007), ``map`` (COCO
    mAP@[.5:.95]), ``map75`` (COCO at 0.75), per-class arrays ``ap50``, ``ap50_11pt``, ``ap`` (NaN for classes
    without ground truth), ``num_gt``, ``num_detections``, ``num_images`` and ``pr_curves`` (as :meth:`pr_curves`
    gives them). With ``coco=False`` the COCO entries are left out (cheaper).

    The state holds one record per detection; ``merge`` concatenates (the metric of the union of the data)."""

    name = "detection"
    higher_is_better = True
    gathered = True  # the state is per-detection records: data-parallel runs gather it rather than sum it

    def __init__(self, num_classes: int, iou_threshold: float = 0.5, coco: bool = True, max_detections: int = 100,
                 name: str | None = None):
        metric = type(self).__name__
        self.num_classes = check_int(metric, "num_classes", num_classes, 1)
        if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float)) or not 0 < iou_threshold <= 1:
            raise InputError(f"{metric}: iou_threshold must be a number in (0, 1], got {iou_threshold!r}")
        self.iou_threshold, self.coco = float(iou_threshold), bool(coco)
        self.max_detections = check_int(metric, "max_detections", max_detections, 1)
        self._parts: list[dict] = []  # per-detection records, one dict of arrays per update
        super().__init__(name)

    def _state_spec(self):
        return {"num_gt": ((self.num_classes,), np.int64), "num_images": ((), np.int64)}

    def _config(self):
        return {"num_classes": self.num_classes, "iou_threshold": self.iou_threshold, "coco": self.coco,
                "max_detections": self.max_detections}

    # ------------------------------------------------------------------ per-detection records
    _RECORDS = ("scores", "classes", "voc", "coco")

    def _empty_records(self) -> dict:
        t = COCO_IOU_THRESHOLDS.size if self.coco else 0
        return {"scores": np.zeros(0, np.float64), "classes": np.zeros(0, np.int64), "voc": np.zeros(0, np.int8),
                "coco": np.zeros((0, t), np.int8)}

    @property
    def _records(self) -> dict:
        """The records of every detection seen, joined into one array per key on demand."""
        if len(self._parts) != 1:
            joined = {k: np.concatenate([self._empty_records()[k], *(p[k] for p in self._parts)])
                      for k in self._RECORDS}
            self._parts = [joined]
        return self._parts[0]

    def _add(self, stats) -> None:
        self._state["num_gt"] += stats["num_gt"]
        self._state["num_images"] += stats["num_images"]
        self._parts.append({k: np.asarray(stats[k]) for k in self._RECORDS})

    def reset(self) -> None:
        super().reset()
        self._parts = []

    def state_dict(self) -> dict:
        return {**super().state_dict(), **{k: v.copy() for k, v in self._records.items()}}

    def load_state_dict(self, state_dict) -> None:
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {*self._state, *self._RECORDS}:
            got = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise StateDictError(f"{where}: expected keys {sorted({*self._state, *self._RECORDS})}, got {got}")
        fixed = self._checked_state({k: state_dict[k] for k in self._state}, where)
        empty = self._empty_records()
        records = {}
        n = np.asarray(state_dict["scores"]).shape[0] if np.ndim(state_dict["scores"]) == 1 else -1
        for key, ref in empty.items():
            value = np.asarray(state_dict[key])
            if value.ndim != ref.ndim or value.shape[0] != n or value.shape[1:] != ref.shape[1:]:
                raise StateDictError(f"{where}: {key!r} has shape {value.shape}, expected ({n}, ...) like "
                                     f"{ref.shape}")
            records[key] = value.astype(ref.dtype)
        self._assign(fixed)
        self._parts = [records]

    def _merge_stats(self):
        return {**self._state, **{k: v.copy() for k, v in self._records.items()}}

    # ------------------------------------------------------------------ update
    def _batch_state(self, preds, targets) -> dict:
        from ..data.targets import as_numpy, check_target

        metric = type(self).__name__
        for what, value in (("preds", preds), ("targets", targets)):
            if not isinstance(value, (list, tuple)):
                raise InputTypeError(f"{metric}: {what} must be a list with one dict per image, got "
                                     f"{type(value).__name__}")
        if len(preds) != len(targets):
            raise InputError(f"{metric}: {len(preds)} predictions but {len(targets)} targets (one each per image)")
        num_gt = np.zeros(self.num_classes, np.int64)
        parts = []
        for i, (pred, target) in enumerate(zip(preds, targets, strict=True)):
            gt = check_target(target, self.num_classes, f"{metric}: target of image {i}")
            det = check_target(pred, self.num_classes, f"{metric}: prediction of image {i}")
            if "scores" not in pred:
                raise InputError(f"{metric}: prediction of image {i} has no 'scores'")
            scores = as_numpy(pred["scores"]).astype(np.float64).reshape(-1)
            if scores.shape[0] != det["boxes"].shape[0]:
                raise InputError(f"{metric}: prediction of image {i} has {det['boxes'].shape[0]} boxes but "
                                 f"{scores.shape[0]} scores")
            if not np.all(np.isfinite(scores)):
                raise InputError(f"{metric}: prediction of image {i} has NaN or infinite scores")
            difficult = gt.get("difficult", np.zeros(gt["labels"].shape[0], bool))
            num_gt += np.bincount(gt["labels"][~difficult], minlength=self.num_classes)
            for c in np.union1d(np.unique(det["labels"]), np.unique(gt["labels"])):
                d_sel = np.flatnonzero(det["labels"] == c)
                if d_sel.size == 0:
                    continue
                d_sel = d_sel[np.argsort(-scores[d_sel], kind="stable")]
                g_sel = gt["labels"] == c
                iou = _iou(det["boxes"][d_sel], gt["boxes"][g_sel])
                part = {"scores": scores[d_sel], "classes": np.full(d_sel.size, c, np.int64),
                        "voc": _match_voc(iou, difficult[g_sel], self.iou_threshold)}
                part["coco"] = (_match_coco(iou, difficult[g_sel], COCO_IOU_THRESHOLDS, self.max_detections)
                                if self.coco else np.zeros((d_sel.size, 0), np.int8))
                parts.append(part)
        records = {k: np.concatenate([self._empty_records()[k], *(p[k] for p in parts)]) for k in self._RECORDS}
        return {"num_gt": num_gt, "num_images": np.int64(len(preds)), **records}

    # ------------------------------------------------------------------ results
    def _curve(self, c: int, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative (recall, precision) of class ``c`` from per-detection flags (ignored ones dropped)."""
        rec = self._records
        sel = (rec["classes"] == c) & (flags != -1)
        order = np.argsort(-rec["scores"][sel], kind="stable")
        hits = flags[sel][order] == 1
        tp = np.cumsum(hits)
        fp = np.cumsum(~hits)
        n = max(int(self._state["num_gt"][c]), 1)
        return tp / n, tp / np.maximum(tp + fp, np.finfo(np.float64).tiny)

    def pr_curves(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per class (recall, precision) at the VOC threshold, one point per detection by decreasing score."""
        return [self._curve(c, self._records["voc"]) for c in range(self.num_classes)]

    def compute(self) -> dict:
        rec = self._records
        has_gt = self._state["num_gt"] > 0
        out = {"ap50": np.full(self.num_classes, np.nan), "ap50_11pt": np.full(self.num_classes, np.nan)}
        curves = self.pr_curves()
        for c in np.flatnonzero(has_gt):
            out["ap50"][c] = average_precision(*curves[c], "all")
            out["ap50_11pt"][c] = average_precision(*curves[c], "11")
        if self.coco:
            per = np.full((self.num_classes, COCO_IOU_THRESHOLDS.size), np.nan)
            for c in np.flatnonzero(has_gt):
                for t in range(COCO_IOU_THRESHOLDS.size):
                    per[c, t] = average_precision(*self._curve(c, rec["coco"][:, t]), "coco")
            out["ap"] = per.mean(axis=1)
            out["ap75"] = per[:, 5]
        result = {"map50": _mean(out["ap50"]), "map50_11pt": _mean(out["ap50_11pt"])}
        if self.coco:
            result.update(map=_mean(out["ap"]), map75=_mean(out["ap75"]))
        result.update(out)
        result.update(num_gt=self._state["num_gt"].copy(), num_images=int(self._state["num_images"]),
                      num_detections=np.bincount(rec["classes"], minlength=self.num_classes), pr_curves=curves)
        return result


def _mean(values: np.ndarray) -> float:
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


class MeanAP50(MeanAveragePrecision):
    """The VOC mAP at IoU 0.5 (all-point) alone, as a float (NaN before any ground truth): the cheap score logged
    each epoch. Same arguments as :class:`MeanAveragePrecision` (``coco`` off by default)."""

    name = "map50"

    def __init__(self, num_classes: int, iou_threshold: float = 0.5, coco: bool = False, max_detections: int = 100,
                 name: str | None = None):
        super().__init__(num_classes, iou_threshold, coco, max_detections, name)

    def compute(self) -> float:
        return super().compute()["map50"]
