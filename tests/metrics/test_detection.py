"""Detection AP against plain re-statements of the Pascal VOC devkit and pycocotools definitions."""

import math

import numpy as np
import pytest

from cnnkit.errors import InputError
from cnnkit.metrics import MeanAP50, MeanAveragePrecision, MetricCollection


# ---------------------------------------------------------------------------------------------- brute force
def plain_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def voc_ap_brute(preds, targets, c, thr=0.5, eleven=False):
    """VOCevaldet: detections of class c over all images sorted by confidence, each matched to the box of max
    overlap in its image; then VOCap (all points) or the 11-point average."""
    dets = [(float(s), i, [float(v) for v in b]) for i, p in enumerate(preds)
            for b, s, lab in zip(p["boxes"], p["scores"], p["labels"], strict=True) if lab == c]
    dets.sort(key=lambda d: -d[0])
    gts = {i: [([float(v) for v in b], bool(t.get("difficult", [False] * len(t["labels"]))[j]))
               for j, (b, lab) in enumerate(zip(t["boxes"], t["labels"], strict=True)) if lab == c]
           for i, t in enumerate(targets)}
    npos = sum(1 for g in gts.values() for _, diff in g if not diff)
    if npos == 0:
        return math.nan
    claimed = {i: [False] * len(g) for i, g in gts.items()}
    tp, fp = [], []
    for _, i, box in dets:
        best, jmax = -1.0, -1
        for j, (gbox, _) in enumerate(gts[i]):
            o = plain_iou(box, gbox)
            if o > best:
                best, jmax = o, j
        if jmax >= 0 and best >= thr:
            if gts[i][jmax][1]:
                continue  # difficult: neither
            if not claimed[i][jmax]:
                claimed[i][jmax] = True
                tp.append(1), fp.append(0)
            else:
                tp.append(0), fp.append(1)
        else:
            tp.append(0), fp.append(1)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, 1e-300)
    if eleven:
        ap = 0.0
        for t in np.arange(0, 1.1, 0.1):
            p = max([p for r, p in zip(rec, prec, strict=True) if r >= t - 1e-12], default=0.0)
            ap += p / 11
        return ap
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def coco_ap_brute(preds, targets, c, max_det=100):
    """pycocotools' evaluateImg + accumulate for one category, area 'all', restated with loops."""
    thresholds = np.linspace(0.5, 0.95, 10)
    aps = []
    for t in thresholds:
        scores, matched, ignored_d, npig = [], [], [], 0
        for p, g in zip(preds, targets, strict=True):
            gt = [(list(b), bool(g.get("difficult", [False] * len(g["labels"]))[j]))
                  for j, (b, lab) in enumerate(zip(g["boxes"], g["labels"], strict=True)) if lab == c]
            gt.sort(key=lambda x: x[1])  # not-ignored first (stable)
            npig += sum(1 for _, ig in gt if not ig)
            dt = [(float(s), list(b)) for b, s, lab in zip(p["boxes"], p["scores"], p["labels"], strict=True)
                  if lab == c]
            dt.sort(key=lambda x: -x[0])
            dt = dt[:max_det]
            gtm = [False] * len(gt)
            for s, box in dt:
                iou, m = min(t, 1 - 1e-10), -1
                for j, (gbox, ig) in enumerate(gt):
                    if gtm[j]:
                        continue
                    if m > -1 and not gt[m][1] and ig:
                        break
                    o = plain_iou(box, gbox)
                    if o < iou:
                        continue
                    iou, m = o, j
                if m > -1:
                    gtm[m] = True
                scores.append(s)
                matched.append(m > -1)
                ignored_d.append(m > -1 and gt[m][1])
        if npig == 0:
            return math.nan
        order = np.argsort(-np.array(scores), kind="mergesort")
        tps = np.array([matched[i] and not ignored_d[i] for i in order], dtype=float)
        fps = np.array([not matched[i] and not ignored_d[i] for i in order], dtype=float)
        tp, fp = np.cumsum(tps), np.cumsum(fps)
        rc = tp / npig
        pr = list(tp / (fp + tp + np.spacing(1)))
        for i in range(len(pr) - 1, 0, -1):
            if pr[i] > pr[i - 1]:
                pr[i - 1] = pr[i]
        q = np.zeros(101)
        inds = np.searchsorted(rc, np.linspace(0, 1, 101), side="left")
        for ri, pi in enumerate(inds):
            if pi < len(pr):
                q[ri] = pr[pi]
        aps.append(q.mean())
    return float(np.mean(aps))


def random_case(rng, n_images=12, classes=3, difficult=False):
    preds, targets = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 40, (k, 2))
        wh = rng.uniform(4, 20, (k, 2))
        gt = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        labels = rng.integers(0, classes, k)
        target = {"boxes": gt, "labels": labels}
        if difficult:
            target["difficult"] = rng.uniform(size=k) < 0.2
        m = int(rng.integers(0, 8))
        # detections: jittered copies of the ground truth (some with the wrong class) plus random boxes
        pick = rng.integers(0, max(k, 1), m)
        src = gt[pick] if k else np.zeros((m, 4), np.float32)
        jitter = rng.normal(0, 1.5, (m, 4)).astype(np.float32)
        boxes = src + jitter
        rand = rng.uniform(size=m) < (0.3 if k else 1.0)
        rxy = rng.uniform(0, 40, (m, 2))
        boxes[rand] = np.concatenate([rxy, rxy + rng.uniform(4, 20, (m, 2))], 1)[rand]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        plabels = labels[pick] if k else rng.integers(0, classes, m)
        plabels = np.where(rng.uniform(size=m) < 0.2, rng.integers(0, classes, m), plabels)
        preds.append({"boxes": boxes.astype(np.float32), "scores": rng.uniform(size=m).astype(np.float32),
                      "labels": plabels})
        targets.append(target)
    return preds, targets


@pytest.mark.parametrize("seed", range(12))
def test_ap_equals_brute_force_voc_and_coco(seed):
    rng = np.random.default_rng(seed)
    preds, targets = random_case(rng, difficult=seed % 3 == 0)
    metric = MeanAveragePrecision(3)
    cut = int(rng.integers(0, len(preds)))
    metric.update(preds[:cut], targets[:cut])
    metric.update(preds[cut:], targets[cut:])
    out = metric.compute()
    for c in range(3):
        for key, brute in (("ap50", voc_ap_brute(preds, targets, c)),
                           ("ap50_11pt", voc_ap_brute(preds, targets, c, eleven=True)),
                           ("ap", coco_ap_brute(preds, targets, c))):
            if math.isnan(brute):
                assert math.isnan(out[key][c])
            else:
                assert out[key][c] == pytest.approx(brute, abs=1e-9), (key, c)
    assert out["map50"] == pytest.approx(np.nanmean(out["ap50"]))
    assert out["map"] == pytest.approx(np.nanmean(out["ap"]))


def test_hand_worked_voc():
    # one class, two objects; detections by score: TP (obj 0), FP (duplicate of obj 0), TP (obj 1), FP (nothing)
    gt = {"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), "labels": np.array([0, 0])}
    pred = {"boxes": np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 31], [40, 40, 50, 50]], np.float32),
            "scores": np.array([0.9, 0.8, 0.7, 0.6]), "labels": np.array([0, 0, 0, 0])}
    m = MeanAveragePrecision(2)
    m.update([pred], [gt])
    out = m.compute()
    # recall 0.5, 0.5, 1, 1; precision 1, 1/2, 2/3, 1/2 -> all-point: 0.5*1 + 0.5*2/3
    assert out["ap50"][0] == pytest.approx(0.5 + 0.5 * 2 / 3)
    # 11-point: t <= 0.5 -> 1 (6 points), t > 0.5 -> 2/3 (5 points)
    assert out["ap50_11pt"][0] == pytest.approx((6 + 5 * 2 / 3) / 11)
    assert math.isnan(out["ap50"][1])  # no ground truth: no AP, left out of the mean
    assert out["map50"] == pytest.approx(out["ap50"][0])
    recall, precision = m.pr_curves()[0]
    np.testing.assert_allclose(recall, [0.5, 0.5, 1, 1])
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.5])


def test_hand_worked_coco_thresholds():
    # IoU of the single detection with the single object is 0.81: a hit for thresholds 0.5..0.8 (7 of 10)
    gt = {"boxes": np.array([[0, 0, 10, 10]], np.float32), "labels": np.array([0])}
    pred = {"boxes": np.array([[0, 0, 10, 8.1]], np.float32), "scores": np.array([0.5]), "labels": np.array([0])}
    m = MeanAveragePrecision(1)
    m.update([pred], [gt])
    out = m.compute()
    assert out["map50"] == 1.0
    assert out["map"] == pytest.approx(0.7)
    assert out["map75"] == 1.0


def test_empty_images_and_no_predictions():
    m = MeanAveragePrecision(2)
    empty = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)}
    nothing = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}
    m.update([nothing, nothing], [empty, empty])
    out = m.compute()
    assert math.isnan(out["map50"]) and math.isnan(out["map"])  # no ground truth anywhere
    gt = {"boxes": np.array([[0, 0, 5, 5]], np.float32), "labels": np.array([1])}
    m.update([nothing], [gt])
    out = m.compute()
    assert out["ap50"][1] == 0.0 and out["map50"] == 0.0 and out["map"] == 0.0
    # a false positive on an empty image lowers precision
    fp = {"boxes": np.array([[0, 0, 5, 5]], np.float32), "scores": np.array([0.9]), "labels": np.array([1])}
    hit = {"boxes": np.array([[0, 0, 5, 5]], np.float32), "scores": np.array([0.1]), "labels": np.array([1])}
    m.reset()
    m.update([fp, hit], [empty, gt])
    assert m.compute()["ap50"][1] == pytest.approx(0.5)


def test_difficult_objects_are_neither_found_nor_missed():
    gt = {"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), "labels": np.array([0, 0]),
          "difficult": np.array([False, True])}
    pred = {"boxes": np.array([[20, 20, 30, 30], [0, 0, 10, 10]], np.float32), "scores": np.array([0.9, 0.8]),
            "labels": np.array([0, 0])}
    m = MeanAveragePrecision(1)
    m.update([pred], [gt])
    out = m.compute()
    assert out["ap50"][0] == 1.0 and out["ap"][0] == 1.0 and out["num_gt"][0] == 1


def test_merge_state_dict_and_map50_float():
    rng = np.random.default_rng(5)
    preds, targets = random_case(rng, n_images=10)
    whole = MeanAveragePrecision(3)
    whole.update(preds, targets)
    a, b = MeanAveragePrecision(3), MeanAveragePrecision(3)
    a.update(preds[:4], targets[:4])
    b.update(preds[4:], targets[4:])
    a.merge(b)
    c = MeanAveragePrecision(3)
    c.load_state_dict(a.state_dict())
    for m in (a, c):
        np.testing.assert_allclose(m.compute()["ap"], whole.compute()["ap"])
    small = MeanAP50(3)
    MetricCollection({"map50": small}).update(preds, targets)
    assert isinstance(small.compute(), float) and small.compute() == pytest.approx(whole.compute()["map50"])
    with pytest.raises(InputError):
        a.merge(MeanAveragePrecision(4))


@pytest.mark.parametrize("bad, match", [
    ({"boxes": [[5, 0, 1, 4]], "labels": [0]}, "x1 <= x2"),
    ({"boxes": [[0, 0, float("nan"), 4]], "labels": [0]}, "finite"),
    ({"boxes": [[0, 0, 1, 4]], "labels": [7]}, "label 7 is outside the 2 classes"),
    ({"boxes": [[0, 0, 1, 4]], "labels": [0, 1]}, "1 boxes but 2 labels"),
    ({"labels": [0]}, "'boxes' and 'labels'"),
])
def test_bad_targets_are_one_clear_error(bad, match):
    m = MeanAveragePrecision(2)
    nothing = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}
    with pytest.raises(InputError, match=match):
        m.update([nothing], [bad])
    assert m.compute()["num_images"] == 0  # a refused batch changes nothing


def test_data_parallel_reduction_gathers_the_records():
    from cnnkit.distributed.parallel import DataParallel
    from cnnkit.distributed.world import World
    from cnnkit.metrics import MeanMetric

    rng = np.random.default_rng(9)
    preds, targets = random_case(rng, n_images=10)
    other = MeanAveragePrecision(3)
    other.update(preds[6:], targets[6:])

    class TwoProcesses(World):  # rank 0 of 2; the other process holds ``other``'s detections
        size = 2

        def allgather(self, obj, what="allgather"):
            return [obj, other.state_dict() if "scores" in obj else obj]

        def allreduce_(self, array, what="allreduce"):
            return array

    mine, whole = MeanAveragePrecision(3), MeanAveragePrecision(3)
    mine.update(preds[:6], targets[:6])
    whole.update(preds, targets)
    DataParallel(TwoProcesses()).reduce_metrics(MeanMetric(), {"detection": mine})
    np.testing.assert_allclose(mine.compute()["ap"], whole.compute()["ap"])
    assert mine.compute()["num_images"] == 10
