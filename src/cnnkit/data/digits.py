"""The 8x8 handwritten digits shipped with the package (UCI "Optical Recognition of Handwritten Digits")."""

from __future__ import annotations

from importlib import resources

import numpy as np

from .dataset import Dataset, _check_callable, check_index

DIGITS_FILE = "digits.npz"
DIGITS_SPLIT_SEED = 1998
DIGITS_TEST_SIZE = 360


def stratified_split(labels, test_size: int, seed: int) -> np.ndarray:
    """Boolean mask of the test items: ``test_size`` items drawn per class in proportion to its size.

    Each class gets ``floor(share)`` test items, the leftover go to the classes with the largest fractional
    share; within a class the items are drawn with ``np.random.default_rng(seed)``.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * test_size / len(labels)
    per_class = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - per_class), kind="stable")
    per_class[order[: test_size - int(per_class.sum())]] += 1
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for c, k in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == c)
        is_test[rng.choice(members, size=int(k), replace=False)] = True
    return is_test


def load_digits_file() -> dict[str, np.ndarray]:
    """The packaged arrays: ``images`` uint8 (1797, 8, 8) in 0..16, ``labels`` int64, ``is_test`` bool."""
    with resources.files("cnnkit.data").joinpath("files").joinpath(DIGITS_FILE).open("rb") as f, np.load(f) as z:
        return {k: z[k] for k in z.files}


class Digits(Dataset):
    """The 1,797 8x8 handwritten digits (0-9) of the UCI ML repository (E. Alpaydin, C. Kaynak, 1998;
    CC BY 4.0), as distributed with scikit-learn, shipped inside the package (no download).

    Each pixel counts the "on" pixels of a 4x4 block of a 32x32 bitmap: integers 0..16. Items are
    ``(image, label)`` with ``image`` float32 (1, 8, 8) = counts / 16 in [0, 1] (then ``transform``), and
    ``label`` an int. The split is fixed: a stratified split with ``np.random.default_rng(1998)``
    (:func:`stratified_split`, 360 test items, about 20% of each class), computed once and stored in the data
    file, so it never depends on the global seed: ``train=True`` gives 1,437 items, ``train=False`` 360.

    ``data``: uint8 (N, 1, 8, 8) counts 0..16; ``targets``: int64 (N,); ``classes``: ``['0', ..., '9']``.
    ``arrays()`` returns the whole split as ``(images float32 NCHW in [0, 1], labels int64)``.
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, transform=None, target_transform=None):
        if not isinstance(train, (bool, np.bool_)):
            raise TypeError(f"Digits: train must be a bool, got {type(train).__name__}")
        _check_callable(transform, "Digits", "transform")
        _check_callable(target_transform, "Digits", "target_transform")
        arrays = load_digits_file()
        keep = ~arrays["is_test"] if train else arrays["is_test"]
        self.train = bool(train)
        self.data = arrays["images"][keep][:, None, :, :]
        self.targets = arrays["labels"][keep].astype(np.int64)
        self.transform = transform
        self.target_transform = target_transform

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    @staticmethod
    def _scale(counts: np.ndarray) -> np.ndarray:
        return counts.astype(np.float32) / np.float32(16)

    def __getitem__(self, index):
        i = check_index(index, len(self), "Digits")
        image, label = self._scale(self.data[i]), int(self.targets[i])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(images float32 (N, 1, 8, 8) in [0, 1], labels int64 (N,))`` of this split (no transforms)."""
        return self._scale(self.data), self.targets.copy()

    def _get_batch(self, indices):
        if self.transform is not None or self.target_transform is not None:
            return None
        return self._scale(self.data[indices]), self.targets[indices]

    def __repr__(self) -> str:
        return f"Digits(split={'train' if self.train else 'test'}, n={len(self)})"
