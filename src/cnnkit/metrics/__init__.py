"""Streaming metrics: ``update(output, target)`` per batch, ``compute()`` at the end, ``reset()`` to start again.

Each metric keeps sums and counts (never the outputs), so memory does not depend on the number of samples, and
``merge`` combines metrics computed on separate shards of the data::

    from cnnkit.metrics import MeanIoU, MetricCollection, PixelAccuracy

    metrics = MetricCollection([MeanIoU(num_classes=21), PixelAccuracy()])
    for images, masks in loader:
        metrics.update(model(images), masks)      # (N, C, H, W) logits vs (N, H, W) labels, 255 = ignore
    metrics.compute()                             # {"mean_iou": ..., "pixel_accuracy": ...}
"""

from .base import Metric, MetricCollection
from .classification import Accuracy, ConfusionMatrix, PrecisionRecallF1, TopKAccuracy
from .detection import MeanAP50, MeanAveragePrecision
from .mean import MeanMetric
from .reconstruction import PSNR, MeanSquaredError
from .segmentation import IoU, MeanIoU, PixelAccuracy

__all__ = [
    "PSNR",
    "Accuracy",
    "ConfusionMatrix",
    "IoU",
    "MeanAP50",
    "MeanAveragePrecision",
    "MeanIoU",
    "MeanMetric",
    "MeanSquaredError",
    "Metric",
    "MetricCollection",
    "PixelAccuracy",
    "PrecisionRecallF1",
    "TopKAccuracy",
]
