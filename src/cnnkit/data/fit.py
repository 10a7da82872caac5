"""Fitting a dataset's images to a model's input: channels converted and size changed on the fly.

    FitImages(dataset, channels=3, size=224)   # (image, label) items: image (C, H, W) float in [0, 1]

One channel becomes three by repetition; three become one by luminance (ITU-R 601-2, as Pillow's 'L' mode).
Images are resized bilinearly. Items are converted as they are read (no copy of the whole set is kept), and a
dataset that serves whole batches of arrays is converted a batch at a time.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .dataset import Dataset, check_index

__all__ = ["FitImages", "fit_image", "subset_indices"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def fit_image(images: np.ndarray, channels: int, size: int) -> np.ndarray:
    """(C, H, W) or (N, C, H, W) float images converted to ``channels`` and resized to ``size`` x ``size``."""
    from .transforms import resize

    batch = images if images.ndim == 4 else images[None]
    c = batch.shape[1]
    if c != channels:
        if c == 1:
            batch = np.repeat(batch, channels, axis=1)
        elif c == 3 and channels == 1:
            batch = np.tensordot(batch, _LUMA.astype(batch.dtype), axes=([1], [0]))[:, None]
        else:
            raise InputError(f"cannot convert {c}-channel images to {channels} channel(s)")
    n, c, h, w = batch.shape
    if (h, w) != (size, size):
        batch = resize(np.ascontiguousarray(batch, dtype=np.float32).reshape(n * c, h, w),
                       (size, size)).reshape(n, c, size, size)
    batch = batch.astype(np.float32, copy=False)
    return batch if images.ndim == 4 else batch[0]


class FitImages(Dataset):
    """``dataset`` (items ``(image, label, ...)``) with each image fitted to ``channels`` x ``size`` x ``size``."""

    def __init__(self, dataset, channels: int, size: int):
        self.dataset, self.channels, self.size = dataset, int(channels), int(size)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[check_index(index, len(self), "FitImages")]
        return (fit_image(np.asarray(item[0], np.float32), self.channels, self.size), *item[1:])

    def _get_batch(self, indices):
        getter = getattr(self.dataset, "_get_batch", None)
        batch = getter(indices) if getter is not None else None
        if batch is None:
            return None
        return (fit_image(np.asarray(batch[0], np.float32), self.channels, self.size), *batch[1:])

    def __getattr__(self, name):  # classes, targets, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def subset_indices(n: int, count: int, seed: int) -> list[int]:
    """A seeded choice of ``min(count, n)`` of ``range(n)``, in increasing order."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.permutation(n)[:min(count, n)])
