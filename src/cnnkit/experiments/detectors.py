"""``cnnkit experiment detectors``: detection as a story of removing waste. R-CNN, SPP-net, Fast R-CNN, Faster R-CNN
and YOLOv1 trained on the same Shapes scenes and evaluated on the same test scenes: mAP@0.5 (VOC all-point) and
the seconds per image spent on proposals, on the CNN and on the heads.

- R-CNN runs the CNN on every warped proposal: its CNN time per image is a hundred-odd CNN passes.
- SPP-net and Fast R-CNN run the CNN once per image and pool each proposal from the shared feature map; selective
  search (on the CPU, per image) is then the bulk of their time.
- Faster R-CNN replaces selective search by the Region Proposal Network on the same feature map.
- YOLOv1 has neither proposals nor a region head: one pass gives the S x S grid of boxes.

Stage times are measured inside the models in eval mode: a model with a ``timings`` dict (the selective-search
detectors) fills it itself; otherwise forward hooks time its ``backbone`` (CNN) and ``rpn`` (proposals) children and
the rest of the forward pass counts as heads (box decoding and NMS included). Every model's compiled kernels are
warmed up on two test images before the timed pass. The selective-search detectors share the training images'
proposals (computed once, in the first such detector's training time) but compute the test images' afresh.
"""

from __future__ import annotations

import time
from pathlib import Path

DETECTORS = ("rcnn", "spp_net", "fast_rcnn", "faster_rcnn", "yolov1")
STAGES = ("proposals", "cnn", "heads")
# per model: epochs and learning rate (Adam, cosine schedule), from the CLI runs on the full scenes (R-CNN learns
# fastest per step, SPP-net slowest). Estimated cost with the default 1,000 training scenes, from the measured
# ~0.25 CPU seconds per training batch of 16 (R-CNN, Fast R-CNN): some 750 CPU seconds in all
SETTINGS = {"rcnn": (5, 3e-3), "spp_net": (12, 3e-3), "fast_rcnn": (8, 3e-3), "faster_rcnn": (10, 2e-3),
            "yolov1": (25, 1e-3)}


class StageTimer:
    """Seconds per stage of a detector's eval-mode forward passes (see the module docstring)."""

    def __init__(self, model):
        self.model = model
        self.own = isinstance(getattr(model, "timings", None), dict) and hasattr(model, "reset_timings")
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.handles = []
        if not self.own:
            for child, stage in (("backbone", "cnn"), ("rpn", "proposals")):
                module = getattr(model, child, None)
                if module is not None:
                    self.handles.append(module.register_forward_pre_hook(self._start(child)))
                    self.handles.append(module.register_forward_hook(self._stop(child, stage)))
        self._t0: dict = {}

    def _start(self, child):
        def hook(module, args):
            self._t0[child] = time.perf_counter()
        return hook

    def _stop(self, child, stage):
        def hook(module, args, output):
            self.seconds[stage] += time.perf_counter() - self._t0.pop(child)
        return hook

    def __call__(self, images):
        """The model's detections of a batch, timed."""
        from ..autograd import Tensor, no_grad

        if self.own:
            self.model.reset_timings()
        before = sum(self.seconds.values())
        start = time.perf_counter()
        with no_grad():
            out = self.model(Tensor(images))
        total = time.perf_counter() - start
        if self.own:
            for stage in STAGES:
                self.seconds[stage] += self.model.timings[stage]
        else:
            self.seconds["heads"] += total - (sum(self.seconds.values()) - before)
        return out

    def close(self):
        for handle in self.handles:
            handle.remove()


def _scenes(n: int, train: bool, seed: int):
    from ..data.synthetic import ShapeScenes

    return ShapeScenes(n=n, seed=seed, train=train, target="boxes")


def train_detector(name: str, train_set, epochs: int, lr: float, seed: int, batch_size: int = 16,
                   proposal_cache=None):
    """A freshly seeded registered detector trained on ``train_set`` with Adam and a cosine schedule; returns
    (model, train wall seconds, train CPU seconds). A selective-search detector keeps its proposals in
    ``proposal_cache`` when given (a dict shared by the detectors: the same images give the same proposals)."""
    import cnnkit as ck

    from ..data import DataLoader
    from ..models import build_model, model_info
    from ..optim.factory import make_optimizer
    from ..optim.lr_scheduler import CosineAnnealingLR
    from ..training import Trainer
    from ..training.tasks import DetectionTask

    if model_info(name).task != "detection":
        from ..errors import InputError

        raise InputError(f"experiment detectors: {name!r} is not a detection model", field="models")
    ck.manual_seed(seed)
    model = build_model(name, num_classes=len(train_set.classes), in_channels=3)
    if proposal_cache is not None and hasattr(model, "proposer"):
        model.proposer.cache = proposal_cache
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, collate_fn=DetectionTask.collate_fn)
    opt = make_optimizer("adam", model.parameters(), lr=lr)
    sched = CosineAnnealingLR(opt, T_max=max(1, epochs * len(loader)))
    wall, cpu = time.perf_counter(), time.process_time()
    Trainer(model, opt, task="detection", scheduler=sched, scheduler_per_batch=True).fit(loader, None, epochs=epochs)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def evaluate_detector(model, test_set, batch_size: int = 16) -> dict:
    """mAP@0.5 on ``test_set`` and the seconds per image of each stage (after a warm-up on two images); proposals
    are computed afresh (an empty cache)."""
    from collections import OrderedDict

    from ..metrics import MeanAveragePrecision

    model.eval()
    if hasattr(model, "proposer"):
        model.proposer.cache = OrderedDict()
    images = test_set.data
    targets = [{"boxes": b, "labels": lab} for b, lab in zip(test_set.boxes, test_set.labels, strict=True)]
    timer = StageTimer(model)
    try:
        timer(images[:2])  # compile and warm up
        timer.seconds = dict.fromkeys(STAGES, 0.0)
        metric = MeanAveragePrecision(len(test_set.classes), coco=False)
        for i in range(0, len(images), batch_size):
            metric.update(timer(images[i:i + batch_size]), targets[i:i + batch_size])
    finally:
        timer.close()
    per_image = {f"{stage}_seconds": timer.seconds[stage] / len(images) for stage in STAGES}
    per_image["total_seconds"] = sum(per_image.values())
    return {"map50": float(metric.compute()["map50"]), **per_image}


def _table(rows: dict) -> str:
    lines = [f"{'model':<12} {'mAP@0.5':>8} {'proposals':>10} {'CNN':>10} {'heads':>10} {'total s/img':>12}"]
    for name, r in rows.items():
        lines.append(f"{name:<12} {r['map50']:>8.3f} {r['proposals_seconds']:>10.4f} {r['cnn_seconds']:>10.4f} "
                     f"{r['heads_seconds']:>10.4f} {r['total_seconds']:>12.4f}")
    return "\n".join(lines)


def run(out: Path, epochs: int | None = None, seed: int = 0, models=None, n_train: int = 1000,
        n_test: int = 200, batch_size: int = 16) -> dict:
    """Train each of ``models`` (registered detectors; default: those of :data:`DETECTORS` that are registered) on
    the same ``n_train`` Shapes scenes for its :data:`SETTINGS` epochs (or ``epochs`` for all), evaluate on the same
    ``n_test`` test scenes; write the table picture ``detectors.png`` (mAP and seconds per image per stage) and
    ``detectors_speed.png`` (mAP against seconds per image)."""
    from collections import OrderedDict

    from .. import viz
    from ..models import list_models

    out = Path(out)
    if models is None:
        models = [name for name in DETECTORS if name in list_models("detection")]
    train_set, test_set = _scenes(n_train, True, seed), _scenes(n_test, False, seed)
    rows, cache = {}, OrderedDict()
    for name in models:
        n_epochs, lr = SETTINGS.get(name, (10, 1e-3))
        n_epochs = epochs or n_epochs
        model, wall, cpu = train_detector(name, train_set, n_epochs, lr, seed, batch_size, cache)
        rows[name] = {**evaluate_detector(model, test_set, batch_size), "epochs": n_epochs, "lr": lr,
                      "train_wall_seconds": wall, "train_cpu_seconds": cpu}
    names = list(rows)
    viz.plot_bars({"mAP@0.5 (test)": {n: rows[n]["map50"] for n in names},
                   **{f"{stage} s/image": {n: rows[n][f"{stage}_seconds"] for n in names} for stage in STAGES}},
                  out / "detectors.png", annotate="{:.3g}",
                  title=f"Detectors on Shapes scenes ({n_train} training, {n_test} test images)")
    viz.plot_scatter({n: (rows[n]["total_seconds"], rows[n]["map50"]) for n in names}, out / "detectors_speed.png",
                     xlabel="seconds per image (eval, log scale)", ylabel="mAP@0.5",
                     title="Speed against accuracy on Shapes scenes")
    table = _table(rows)
    return {"experiment": "detectors", "seed": seed, "n_train": n_train, "n_test": n_test, "results": rows,
            "table": table, "message": f"Detectors on {n_test} test scenes (seconds per image):\n{table}"}
