"""Training history (one record per epoch) and the train/validation-gap diagnosis."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from ..atomic import json_text, write_text


@dataclass
class History:
    """Per-epoch logs: ``history.epochs[i] = {"epoch": i+1, "loss": ..., "val_loss": ..., "lr": ...}``."""

    epochs: list[dict] = field(default_factory=list)

    def append(self, logs: dict) -> None:
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list:
        """The series of one logged value, e.g. ``history["val_accuracy"]``."""
        return [e.get(key, math.nan) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self.epochs:
            seen.update(dict.fromkeys(e))
        return list(seen)

    def to_dict(self) -> dict:
        return {"epochs": self.epochs}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls([dict(e) for e in d.get("epochs", [])])

    def save_json(self, path) -> None:
        write_text(path, json_text(self.to_dict(), indent=2))

    def save_csv(self, path) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.keys())
        writer.writeheader()
        writer.writerows(self.epochs)
        write_text(path, out.getvalue())


# scores in [0, 1], where a gap and a floor make sense
BOUNDED_SCORES = ("accuracy", "pixel_accuracy", "mean_iou", "map50")


def diagnose(history: History, gap_threshold: float = 0.05, low_accuracy: float = 0.9,
             score: str | None = "accuracy") -> dict:
    """Say whether a run looks over-fit, under-fit or well fit, from the final train/validation numbers.

    over-fit: validation loss has risen clearly above its best (by > 25% and > 0.02), or the train ``score``
    (accuracy, or another value in [0, 1] such as mean IoU) exceeds the validation score by more than
    ``gap_threshold``; under-fit: the training score itself is below ``low_accuracy`` (the model cannot even fit
    the training data); otherwise a good fit. Other scores (e.g. PSNR) are judged by the validation loss only.
    """
    if not history.epochs:
        return {"verdict": "no epochs", "message": "no epochs were run"}
    last = history.epochs[-1]
    bounded = score in BOUNDED_SCORES
    train_acc = last.get(score) if bounded else None
    val_acc = last.get(f"val_{score}") if bounded else None
    name = (score or "").replace("_", " ")
    val_losses = [v for v in history["val_loss"] if v is not None and not math.isnan(v)]
    result = {"train_accuracy": train_acc, "val_accuracy": val_acc,
              "train_loss": last.get("loss"), "val_loss": last.get("val_loss")}
    gap = None if train_acc is None or val_acc is None else train_acc - val_acc
    result["gap"] = gap
    best = min(val_losses) if val_losses else math.nan
    rising = len(val_losses) >= 3 and val_losses[-1] > 1.25 * best and val_losses[-1] - best > 0.02
    if train_acc is not None and train_acc < low_accuracy:
        verdict = "under-fit"
        message = (f"under-fit: training {name} is only {train_acc:.1%}; a bigger model, more epochs or a higher "
                   f"learning rate should help")
    elif (gap is not None and gap > gap_threshold) or rising:
        verdict = "over-fit"
        detail = f"train {name} exceeds validation by {gap:.1%}" if gap is not None else ""
        if rising:
            detail += ("; " if detail else "") + "validation loss rose above its best"
        message = f"over-fit: {detail}; try more data/augmentation, L2/dropout or early stopping"
    elif gap is None and not val_losses and val_acc is not None:  # a score measured on validation data only
        verdict = "unknown"
        message = (f"validation {name} {val_acc:.1%}; there is no training {name} or validation loss to judge the "
                   f"fit by")
    elif gap is None and not val_losses:
        verdict, message = "unknown", "no validation data: cannot judge the fit"
    elif gap is None:
        verdict, message = "good fit", "good fit: the validation loss has not risen above its best"
    else:
        verdict = "good fit"
        message = f"good fit: train/validation {name} gap {gap:+.1%}"
    result.update(verdict=verdict, message=message)
    return result
