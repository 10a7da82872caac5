"""The 8x8 handwritten digits shipped with the package (UCI "Optical Recognition of Handwritten Digits")."""

from __future__ import annotations

from importlib import resources

import numpy as np

from .dataset import ImageArrayDataset, _check_bool

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


class Digits(ImageArrayDataset):
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
    pixel_max = 16

    def __init__(self, train: bool = True, transform=None, target_transform=None):
        self.train = _check_bool(train, "Digits", "train")
        self._init_transforms(transform, target_transform)
        arrays = load_digits_file()
        keep = ~arrays["is_test"] if self.train else arrays["is_test"]
        self.data = arrays["images"][keep][:, None, :, :]
        self.targets = arrays["labels"][keep].astype(np.int64)
