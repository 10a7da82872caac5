"""Detection pictures: precision-recall curves per class, and an image with its labelled boxes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from .plots import _pyplot, _save

__all__ = ["plot_pr_curves", "draw_boxes", "BOX_COLOURS"]

BOX_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
               (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128))


def plot_pr_curves(path, curves: dict, ap: dict | None = None, title: str = "Precision-recall (IoU 0.5, test set)",
                   max_points: int = 400) -> Path:
    """One precision-recall curve per class (``curves``: {class name: (recall, precision)}, one point per
    detection by decreasing score), its AP in the legend (``ap``: {class name: AP or None}). Long curves are
    thinned to ``max_points`` points."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    for name, (recall, precision) in curves.items():
        recall, precision = np.asarray(recall, float), np.asarray(precision, float)
        if recall.size > max_points:
            keep = np.unique(np.linspace(0, recall.size - 1, max_points).astype(int))
            recall, precision = recall[keep], precision[keep]
        value = (ap or {}).get(name)
        label = f"{name} (AP {value:.3f})" if value is not None else f"{name} (no ground truth)"
        ax.plot(np.concatenate([[0.0], recall]), np.concatenate([[1.0], precision]) if recall.size else [1.0],
                drawstyle="steps-post", label=label)
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return _save(fig, path)


def draw_boxes(image: np.ndarray, boxes, labels, scores=None, classes=None, path=None, min_side: int = 256):
    """The image (C, H, W) floats in [0, 1] with each box outlined and labelled "class score", as a Pillow image
    enlarged to at least ``min_side`` pixels (small images stay readable); written as PNG to ``path`` if given."""
    from PIL import Image, ImageDraw

    arr = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    arr = np.repeat(arr, 3, axis=0) if arr.shape[0] == 1 else arr[:3]
    pil = Image.fromarray((arr.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8), "RGB")
    scale = max(1, -(-min_side // min(pil.size)))
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(pil)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale
    for i, (box, label) in enumerate(zip(boxes, np.asarray(labels).reshape(-1), strict=True)):
        colour = BOX_COLOURS[int(label) % len(BOX_COLOURS)]
        draw.rectangle([float(v) for v in box], outline=colour, width=2)
        name = classes[int(label)] if classes is not None and 0 <= int(label) < len(classes) else str(int(label))
        text = name if scores is None else f"{name} {float(np.asarray(scores)[i]):.2f}"
        x, y = float(box[0]), max(0.0, float(box[1]) - 12)
        left, top, right, bottom = draw.textbbox((x, y), text)
        draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=colour)
        draw.text((x, y), text, fill=(255, 255, 255))
    if path is not None:
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG")
        with atomic_write(path) as f:
            f.write(buffer.getvalue())
    return pil
