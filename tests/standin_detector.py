"""A tiny stand-in detector with the torchvision convention (a loss dict in training, detections in eval), so the
detection workflow is tested without the real detectors. ``register(monkeypatch)`` adds it to the model registry
as "standin_det"."""

import numpy as np

import cnnkit.nn as nn
from cnnkit.models import ModelInfo


class StandinDetector(nn.Module):
    """Global features -> class scores. Eval: one box per image (the central half) with the best class, or no box
    when the image is dark (mean < 0.35), so some outputs are empty. Train: a loss from the scores and the target
    labels (cross-entropy of the first object's class; images without objects add nothing)."""

    def __init__(self, num_classes=3, in_channels=3):
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, num_classes)

    def scores(self, images):
        from cnnkit.functional import relu

        return self.fc(self.pool(relu(self.conv(images))).flatten(1))

    def forward(self, images, targets=None):
        from cnnkit.functional import cross_entropy, softmax

        logits = self.scores(images)
        if self.training:
            labels = [int(t["labels"][0]) if len(t["labels"]) else -100 for t in targets]
            if all(lab == -100 for lab in labels):
                return {"loss_classifier": (logits * 0).sum()}
            import cnnkit as ck

            return {"loss_classifier": cross_entropy(logits, ck.tensor(np.array(labels)), ignore_index=-100),
                    "loss_zero": (logits * 0).sum()}
        probs = softmax(logits, dim=1).numpy()
        h, w = images.shape[2:]
        out = []
        for image, p in zip(images.numpy(), probs, strict=True):
            if image.mean() < 0.35:
                out.append({"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32),
                            "labels": np.zeros(0, np.int64)})
                continue
            c = int(p.argmax())
            out.append({"boxes": np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32),
                        "scores": np.array([p[c]], np.float32), "labels": np.array([c], np.int64)})
        return out


def register(monkeypatch, name="standin_det"):
    import cnnkit.models as models

    monkeypatch.setitem(models._REGISTRY, name, ModelInfo(StandinDetector, (3, 64, 64), "stand-in detector",
                                                          task="detection", default_dataset=None))
    return name
