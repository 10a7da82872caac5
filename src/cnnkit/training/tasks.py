"""Tasks: what a kind of problem means to the training loop.

A :class:`Task` says how a batch becomes model input and target, the default loss, the streaming metrics of an
epoch and of the final test report, which value ``best.ckpt`` monitors, and what the end of a run reports and
draws. The :class:`~cnnkit.training.Trainer` and the run workflow read only this interface, so a new kind of
problem is a new task object, not a change to the loop.

    classification   batch (images (N, C, H, W), labels (N,))       loss cross-entropy        accuracy
    segmentation     batch (images, masks (N, H, W), 255 = ignore)   pixel-wise cross-entropy  pixel accuracy, mIoU
    reconstruction   batch (images, anything)                        MSE (target = input)      MSE, PSNR
    detection        batch (images, [{"boxes", "labels"}, ...])      the model's loss dict     mAP@0.5 (VOC), COCO mAP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import metrics as M
from ..autograd import Tensor
from ..errors import InputError
from .metrics import precision_recall_f1

__all__ = ["Task", "Figure", "ClassificationTask", "SegmentationTask", "ReconstructionTask", "DetectionTask",
           "get_task", "TASKS", "IGNORE_INDEX"]

IGNORE_INDEX = 255  # mask value of pixels that count for neither loss nor metrics (the Pascal VOC convention)


@dataclass(frozen=True)
class Figure:
    """A picture the end of a run asks for: written to ``filename`` by the drawing function named ``kind`` with
    ``data`` (plain numbers), so tasks describe pictures without depending on the plotting layer."""

    filename: str
    kind: str
    data: dict


def _as_tensor(x, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise InputError(f"batch: expected the {what} as a Tensor or array, got {type(x).__name__}")


class Task:
    """The interface (see the module docstring). Subclasses set ``name``, ``monitor`` (the logged value that
    ``best.ckpt`` follows), ``mode`` (``"min"`` or ``"max"``), ``score`` (the metric that says how good a model is,
    shown by the progress bar and used to diagnose over- and under-fitting; None when there is none) and
    ``curves`` (the logged values plotted per epoch)."""

    name = "task"
    monitor = "val_loss"
    mode = "min"
    score: str | None = None
    curves: tuple[str, ...] = ("loss",)
    has_classes = True  # the model's output has one score per class (a model builder takes num_classes)
    collate_fn = None  # the DataLoader's default collate stacks everything
    measures_training = True  # the training forward gives outputs for the metrics (a detector gives losses only)

    def unpack(self, batch) -> tuple:
        """(inputs, targets) of a batch; the default takes a 2-item batch as it is."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            got = f"{len(batch)} items" if isinstance(batch, (tuple, list)) else type(batch).__name__
            raise InputError(f"{self.name}: expected batches of (inputs, targets), got {got}")
        return _as_tensor(batch[0], "inputs"), batch[1]

    def batch_size(self, inputs) -> int:
        return len(inputs)

    def default_loss(self, output, target):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, model, inputs, targets, loss_fn) -> tuple:
        """(loss, outputs) of one batch: the model's outputs go to the metrics (None: none to measure)."""
        output = model(inputs)
        return (loss_fn or self.default_loss)(output, targets), output

    def metrics(self, info) -> dict:
        """Streaming metrics logged each epoch (scalars), for data described by ``info``
        (:class:`~cnnkit.data.registry.DataInfo`)."""
        return {}

    def test_metrics(self, info) -> dict:
        """Streaming metrics of the final test report (may hold arrays, e.g. a confusion matrix)."""
        return self.metrics(info)

    def report(self, results: dict, info) -> tuple[dict, list[Figure]]:
        """From the test results (``test_loss`` plus every test metric) to the JSON report and the pictures."""
        return {key: _plain(value) for key, value in results.items()}, []

    def examples(self, model, dataset, info) -> list[Figure]:
        """Pictures of the model's outputs on the first few items of ``dataset`` (none by default)."""
        return []

    def bind(self, info) -> Task:
        """Learn the data description (:class:`~cnnkit.data.registry.DataInfo`) the batches will follow, for
        checks that need it (the number of classes); returns ``self``."""
        return self


def _plain(value):
    """Arrays and NumPy numbers as JSON-friendly lists and floats."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class ClassificationTask(Task):
    """Images to one class each: cross-entropy, accuracy; the report adds the confusion matrix and per-class
    precision, recall and F1."""

    name = "classification"
    score = "accuracy"
    curves = ("loss", "accuracy")

    def unpack(self, batch):
        inputs, targets = super().unpack(batch)
        return inputs, _as_tensor(targets, "labels")

    def default_loss(self, output, target):
        from ..functional import cross_entropy

        return cross_entropy(output, target)

    def metrics(self, info):
        return {"accuracy": M.Accuracy()}

    def test_metrics(self, info):
        return {"accuracy": M.Accuracy(), "confusion_matrix": M.ConfusionMatrix(info.num_classes)}

    def report(self, results, info):
        cm = np.asarray(results["confusion_matrix"])
        per_class = precision_recall_f1(cm)
        classes = [str(c) for c in info.classes] or [str(i) for i in range(cm.shape[0])]
        report = {"test_loss": results["test_loss"], "test_accuracy": results["accuracy"],
                  "confusion_matrix": cm.tolist(),
                  "per_class": {k: [round(float(v), 4) for v in values] for k, values in per_class.items()},
                  "classes": classes}
        return report, [Figure("confusion.png", "confusion", {"matrix": cm, "classes": classes})]


class SegmentationTask(Task):
    """Images to a class per pixel (masks (N, H, W), ``ignore_index`` pixels skipped): pixel-wise
    cross-entropy, pixel accuracy and mean IoU; ``best.ckpt`` follows the validation mean IoU."""

    name = "segmentation"
    monitor = "val_mean_iou"
    mode = "max"
    score = "mean_iou"
    curves = ("loss", "pixel_accuracy", "mean_iou")

    def __init__(self, ignore_index: int = IGNORE_INDEX, class_weights=None):
        self.ignore_index = ignore_index
        self.class_weights = class_weights

    def unpack(self, batch):
        inputs, masks = super().unpack(batch)
        masks = _as_tensor(masks, "masks")
        if masks.ndim != 3 or masks.shape[0] != inputs.shape[0] or masks.shape[1:] != inputs.shape[2:]:
            raise InputError(f"segmentation: masks must be (N, H, W) matching images (N, C, H, W) = {inputs.shape}, "
                             f"got masks of shape {masks.shape}")
        return inputs, masks

    def default_loss(self, output, target):
        from ..functional import cross_entropy

        weight = None if self.class_weights is None else Tensor(np.asarray(self.class_weights, output.dtype))
        return cross_entropy(output, target, weight=weight, ignore_index=self.ignore_index)

    def metrics(self, info):
        return {"pixel_accuracy": M.PixelAccuracy(self.ignore_index),
                "mean_iou": M.MeanIoU(info.num_classes, self.ignore_index)}

    def test_metrics(self, info):
        return {"pixel_accuracy": M.PixelAccuracy(self.ignore_index),
                "iou": M.IoU(info.num_classes, self.ignore_index)}

    def report(self, results, info):
        iou = np.asarray(results["iou"], dtype=np.float64)
        classes = [str(c) for c in info.classes] or [str(i) for i in range(iou.size)]
        mean = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
        report = {"test_loss": results["test_loss"], "pixel_accuracy": results["pixel_accuracy"], "mean_iou": mean,
                  "per_class_iou": {c: (None if np.isnan(v) else round(float(v), 4)) for c, v in zip(
                      classes, iou, strict=True)}, "classes": classes}
        return report, []

    def predict(self, model, images) -> np.ndarray:
        """Class index per pixel (N, H, W) of a batch of images (eval mode, no gradients; the model's mode is
        restored)."""
        from ..autograd import no_grad

        was_training = model.training
        model.eval()
        try:
            with no_grad():
                scores = model(_as_tensor(images, "images"))
        finally:
            model.train(was_training)
        return np.asarray(scores.data).argmax(axis=1)

    def examples(self, model, dataset, info, count: int = 6) -> list[Figure]:
        """``segmentation.png``: ``count`` items of ``dataset`` with their true and predicted masks: the first ones
        with some labelled object pixels among the first ``4 * count`` (then the first others)."""
        n = min(count, len(dataset))
        if n == 0:
            return []
        looked = [dataset[i] for i in range(min(4 * count, len(dataset)))]
        has_objects = [bool(np.isin(np.asarray(item[1]), (0, self.ignore_index), invert=True).any()) for item in looked]
        items = ([item for item, yes in zip(looked, has_objects, strict=True) if yes]
                 + [item for item, yes in zip(looked, has_objects, strict=True) if not yes])[:n]
        images = np.stack([np.asarray(item[0], dtype=np.float32) for item in items])
        truths = np.stack([np.asarray(item[1]) for item in items])
        predictions = self.predict(model, images)
        return [Figure("segmentation.png", "segmentation", {
            "images": images, "truths": truths, "predictions": predictions, "classes": list(info.classes),
            "title": "Test examples: image, truth, prediction, prediction over the image"})]


class ReconstructionTask(Task):
    """The input is its own target (autoencoders): MSE loss (or ``loss="bce"``), MSE and PSNR metrics. With
    ``noise`` > 0 the model sees the input plus Gaussian noise of that standard deviation (clipped to [0, 1]) and
    must rebuild the clean input (a denoising autoencoder); the noise comes from the global generator
    (``ck.manual_seed``)."""

    name = "reconstruction"
    score = "psnr"
    curves = ("loss", "psnr")
    has_classes = False

    def __init__(self, noise: float = 0.0, data_range: float = 1.0, loss: str = "mse"):
        if not noise >= 0:
            raise InputError(f"reconstruction: noise must be >= 0, got {noise!r}", field="noise")
        if loss not in ("mse", "bce"):
            raise InputError(f"reconstruction: loss must be 'mse' or 'bce' (binary cross-entropy of outputs in "
                             f"[0, 1], e.g. after a sigmoid), got {loss!r}")
        self.noise, self.data_range, self.loss = float(noise), float(data_range), loss

    def unpack(self, batch):
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        clean = _as_tensor(images, "images")
        if not self.noise:
            return clean, clean
        from .. import random as ck_random

        noisy = clean.data + self.noise * ck_random.get_rng().standard_normal(clean.shape).astype(clean.dtype)
        return Tensor(np.clip(noisy, 0.0, 1.0)), clean

    def default_loss(self, output, target):
        """Mean squared error, or with ``loss="bce"`` the binary cross-entropy
        ``-mean(t log y + (1 - t) log(1 - y))`` (targets in [0, 1] read as pixel probabilities)."""
        from ..functional import binary_cross_entropy, mse_loss

        return (binary_cross_entropy if self.loss == "bce" else mse_loss)(output, target)

    def examples(self, model, dataset, info, count: int = 10) -> list[Figure]:
        """``reconstructions.png``: the first ``count`` images of ``dataset``, the noisy inputs (with ``noise``)
        and the model's reconstructions."""
        from ..autograd import no_grad

        n = min(count, len(dataset))
        if n == 0:
            return []
        items = [dataset[i] for i in range(n)]
        clean = np.stack([np.asarray(item[0] if isinstance(item, tuple) else item, dtype=np.float32)
                          for item in items])
        inputs, _ = self.unpack((clean, None))
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                rebuilt = np.asarray(model(inputs).data)
        finally:
            model.train(was_training)
        rows = {"original": clean}
        if self.noise:
            rows[f"input (noise {self.noise:g})"] = np.asarray(inputs.data)
        rows["reconstruction"] = np.clip(rebuilt, 0.0, 1.0)
        return [Figure("reconstructions.png", "image_grid", {"rows": rows, "title": "Test images and their "
                                                                                     "reconstructions"})]

    def metrics(self, info):
        return {"mse": M.MeanSquaredError(), "psnr": M.PSNR(self.data_range)}


class DetectionTask(Task):
    """Images to boxes: targets are per-image ``{"boxes": (K, 4) xyxy, "labels": (K,)}`` dicts (K may be 0), the
    model returns a dict of losses in training mode and ``[{"boxes", "scores", "labels"}, ...]`` in eval mode
    (torchvision's convention); the loss is the sum of the model's losses. Training measures nothing beyond the
    loss (no extra forward pass); validation runs the detector in eval mode and logs the VOC mAP at IoU 0.5
    (``val_map50``, which ``best.ckpt`` follows); the test report adds the COCO mAP@[.5:.95], per-class AP and a
    precision-recall picture. ``num_classes`` (object classes, no background): labels are checked against it."""

    name = "detection"
    measures_training = False
    monitor = "val_map50"
    mode = "max"
    score = "map50"
    curves = ("loss", "map50")

    def __init__(self, num_classes: int | None = None):
        self.num_classes = num_classes

    def bind(self, info):
        self.num_classes = info.num_classes or None
        return self

    @staticmethod
    def collate_fn(items):
        """Images stacked, targets kept as a list (each image has its own number of boxes)."""
        from ..data.loader import default_collate

        images = default_collate([item[0] for item in items])
        return images, [item[1] for item in items]

    def unpack(self, batch):
        from ..data.targets import check_target

        inputs, targets = super().unpack(batch)
        if not isinstance(targets, (list, tuple)) or len(targets) != inputs.shape[0]:
            size = len(targets) if hasattr(targets, "__len__") else "?"
            raise InputError(f"detection: expected one target dict per image ({inputs.shape[0]}), got "
                             f"{type(targets).__name__} of length {size}")
        return inputs, [check_target(t, self.num_classes, f"detection: target of image {i} of the batch")
                        for i, t in enumerate(targets)]

    def forward(self, model, inputs, targets, loss_fn):
        if model.training:
            losses = model(inputs, targets)
            total = None
            for value in losses.values():
                total = value if total is None else total + value
            return total, None
        outputs = model(inputs)
        return (loss_fn(outputs, targets) if loss_fn else None), outputs

    def _classes(self, info) -> int:
        n = info.num_classes or self.num_classes
        if not n:
            raise InputError("detection: the number of object classes is unknown; describe the data (a DataInfo "
                             "with num_classes) or make the task with num_classes")
        return n

    def metrics(self, info):
        return {"map50": M.MeanAP50(self._classes(info))}

    def test_metrics(self, info):
        return {"detection": M.MeanAveragePrecision(self._classes(info))}

    def report(self, results, info):
        d = results["detection"]
        n = len(d["ap50"])
        classes = [str(c) for c in info.classes][:n] or [str(i) for i in range(n)]

        def per_class(values):
            return {c: _finite(v, 4) for c, v in zip(classes, values, strict=True)}

        report = {"test_loss": _finite(results["test_loss"]), "map50": _finite(d["map50"]), "map": _finite(d["map"]),
                  "map50_11pt": _finite(d["map50_11pt"]), "map75": _finite(d["map75"]),
                  "per_class_ap50": per_class(d["ap50"]), "per_class_ap": per_class(d["ap"]),
                  "num_objects": dict(zip(classes, map(int, d["num_gt"]), strict=True)),
                  "num_detections": dict(zip(classes, map(int, d["num_detections"]), strict=True)),
                  "num_images": d["num_images"], "classes": classes}
        curves = {c: (r.tolist(), p.tolist()) for c, (r, p) in zip(classes, d["pr_curves"], strict=True)}
        return report, [Figure("pr_curves.png", "pr_curves", {"curves": curves, "ap": report["per_class_ap50"]})]


def _finite(value, digits: int | None = None):
    """A float for JSON: None when NaN or infinite (e.g. the mAP of a test set without objects)."""
    value = float(value)
    if not np.isfinite(value):
        return None
    return round(value, digits) if digits is not None else value


TASKS = {"classification": ClassificationTask, "segmentation": SegmentationTask,
         "reconstruction": ReconstructionTask, "detection": DetectionTask}


def get_task(task, **kwargs) -> Task:
    """A task object from its name (or the object itself)."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", field="task")
    return TASKS[task](**kwargs)
