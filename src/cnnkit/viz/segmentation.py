"""Segmentation pictures: class colours (the Pascal VOC colour map), colour overlays, index-mask PNGs, and the
run report's strip of examples (image | truth | prediction | overlay)."""

from __future__ import annotations

import io

import numpy as np

from ..atomic import atomic_write

__all__ = ["class_colours", "colour_mask", "overlay_mask", "save_mask_png", "save_rgb_png", "plot_segmentation",
           "IGNORE_COLOUR"]

IGNORE_COLOUR = (224, 224, 192)  # the colour VOC gives its "void" (255) pixels


def class_colours(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours of the Pascal VOC colour map: the bits of the class index, three at a time, fill the
    red, green and blue values from their top bit down (0 black, 1 dark red, 2 dark green, ...); 255 is
    ``IGNORE_COLOUR``."""
    colours = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[i] = (r, g, b)
    if n > 255:
        colours[255] = IGNORE_COLOUR
    return colours


def colour_mask(mask: np.ndarray) -> np.ndarray:
    """An (H, W) mask of class indices (0..254, 255 ignore) as an RGB (H, W, 3) uint8 picture."""
    return class_colours()[np.clip(np.asarray(mask), 0, 255).astype(np.int64)]


def _rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] (grey or RGB) -> (H, W, 3) float in [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    base = np.repeat(image[:1], 3, axis=0) if image.shape[0] != 3 else image
    return np.clip(base.transpose(1, 2, 0), 0.0, 1.0)


def overlay_mask(image: np.ndarray, mask: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """An RGB (H, W, 3) float picture in [0, 1]: the image (C, H, W) with each class's colour blended in at
    ``alpha``; background (0) and ignored (255) pixels are left as they are."""
    base = _rgb(image)
    mask = np.asarray(mask)
    tint = (mask != 0) & (mask != 255)
    out = base.copy()
    out[tint] = (1 - alpha) * base[tint] + alpha * colour_mask(mask)[tint] / 255.0
    return out


def save_mask_png(path, mask: np.ndarray) -> None:
    """Write an (H, W) mask as a palette PNG: its pixel values are the class indices (read back as indices, e.g.
    by ``np.asarray(Image.open(path))``) and viewers show the VOC colours. Written atomically."""
    from PIL import Image

    im = Image.fromarray(np.asarray(mask).astype(np.uint8), mode="P")
    im.putpalette(class_colours().reshape(-1).tolist())
    _save_pil(im, path)


def save_rgb_png(path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) float picture in [0, 1] as a PNG, atomically."""
    from PIL import Image

    _save_pil(Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), mode="RGB"), path)


def _save_pil(im, path) -> None:
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


def plot_segmentation(path, images, truths, predictions, classes=None, title: str = "Test examples"):
    """One row per example: the image, the true mask, the predicted mask and the prediction over the image, with a
    legend of the class colours. ``images`` (N, C, H, W) in [0, 1]; ``truths`` and ``predictions`` (N, H, W)."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    images, truths, predictions = np.asarray(images), np.asarray(truths), np.asarray(predictions)
    n = len(images)
    fig, axes = plt.subplots(n, 4, figsize=(8.0, 2.1 * n + 0.6), squeeze=False, layout="constrained")
    for row, (image, truth, pred) in enumerate(zip(images, truths, predictions, strict=True)):
        known = truth != 255
        accuracy = float((pred[known] == truth[known]).mean()) if known.any() else float("nan")
        panels = [(_rgb(image), "image"), (colour_mask(truth), "truth"),
                  (colour_mask(pred), f"prediction ({accuracy:.0%} of pixels)"), (overlay_mask(image, pred), "overlay")]
        for ax, (picture, label) in zip(axes[row], panels, strict=True):
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 or label.startswith("prediction"):
                ax.set_title(label, fontsize=8)
    if classes:
        from matplotlib.patches import Patch

        colours = class_colours()
        handles = [Patch(color=colours[i] / 255.0, label=str(c)) for i, c in enumerate(classes)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
