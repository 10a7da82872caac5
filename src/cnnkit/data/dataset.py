"""Dataset base classes, in-memory datasets, subsets and splits (PyTorch's ``torch.utils.data`` names).

A dataset is anything with ``__len__`` and ``__getitem__(i)``. Datasets that hold whole arrays may also offer
``_get_batch(indices)``: a tuple of batched arrays equal to collating the items one by one, or None when a
per-item transform has to run. The DataLoader uses it to batch by fancy indexing instead of a Python loop.
"""

from __future__ import annotations

import bisect
import math
import numbers
import warnings

import numpy as np

from ..autograd import Tensor
from ..errors import InputError, InputTypeError
from . import _rng


class DatasetError(InputError):
    """Bad or corrupt data: a wrong header, a wrong shape, a checksum that does not match."""


def check_index(index, length: int, owner: str) -> int:
    """``index`` as a non-negative int below ``length`` (negative counts from the end), else IndexError."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (numbers.Integral, np.integer)):
        raise InputTypeError(f"{owner}: index must be an int, got {type(index).__name__}")
    i = int(index)
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"{owner}: index {int(index)} is out of range for a dataset of {length} items")
    return i


def as_array(x, owner: str, what: str) -> np.ndarray:
    """An ndarray from an ndarray, a Tensor or a sequence."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise InputTypeError(f"{owner}: {what} must be array-like, got {type(x).__name__} ({err})") from err


class Dataset:
    """Base class: subclasses implement ``__getitem__(index)`` and ``__len__``. ``a + b`` concatenates."""

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other) -> ConcatDataset:
        return ConcatDataset([self, other])

    def _get_batch(self, indices: np.ndarray):
        """Whole batch by fancy indexing, or None when items must be built one by one."""
        return None


class TensorDataset(Dataset):
    """Items are ``tuple(a[i] for a in arrays)``; every array (or Tensor) has the same first dimension.

    Arrays keep their dtypes (as in PyTorch).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise InputError("TensorDataset: expected at least one array, got none")
        arrays = tuple(as_array(a, "TensorDataset", f"array {k}") for k, a in enumerate(arrays))
        for k, a in enumerate(arrays):
            if a.ndim == 0:
                raise InputError(f"TensorDataset: array {k} is a scalar; expected at least one dimension")
        sizes = [len(a) for a in arrays]
        if len(set(sizes)) != 1:
            raise InputError(f"TensorDataset: all arrays need the same first dimension, got sizes {sizes}")
        self.tensors = arrays

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index):
        i = check_index(index, len(self), "TensorDataset")
        return tuple(a[i] for a in self.tensors)

    def _get_batch(self, indices):
        return tuple(a[indices] for a in self.tensors)


class ArrayDataset(Dataset):
    """``(image, label)`` pairs from whole arrays, with optional per-item transforms.

    ``images``: an array (or Tensor) of N items, e.g. NCHW; float64 images are stored as float32 (the library
    works in float32). ``labels``: N integer class indices (stored as int64) or any N-row array; None gives
    items of the image alone. ``arrays()`` returns the stored arrays.
    """

    def __init__(self, images, labels=None, transform=None, target_transform=None):
        images = as_array(images, "ArrayDataset", "images")
        if images.ndim == 0:
            raise InputError("ArrayDataset: images must have a first (sample) dimension, got a scalar")
        if images.dtype == np.float64:
            images = images.astype(np.float32)
        if labels is not None:
            labels = as_array(labels, "ArrayDataset", "labels")
            if labels.ndim == 0:
                raise InputError("ArrayDataset: labels must have a first (sample) dimension, got a scalar")
            if labels.dtype.kind in "iub":
                labels = labels.astype(np.int64, copy=False)
            if len(labels) != len(images):
                raise InputError(f"ArrayDataset: {len(images)} images but {len(labels)} labels")
        _check_callable(transform, "ArrayDataset", "transform")
        _check_callable(target_transform, "ArrayDataset", "target_transform")
        self.data = images
        self.targets = labels
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        i = check_index(index, len(self), "ArrayDataset")
        image = self.data[i]
        if self.transform is not None:
            image = self.transform(image)
        if self.targets is None:
            return image
        label = self.targets[i]
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def arrays(self):
        """``(images, labels)`` as stored (``images`` alone when there are no labels)."""
        return self.data if self.targets is None else (self.data, self.targets)

    def _get_batch(self, indices):
        if self.transform is not None or self.target_transform is not None:
            return None
        if self.targets is None:
            return self.data[indices]
        return self.data[indices], self.targets[indices]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        idx = np.asarray(as_array(indices, "Subset", "indices"))
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise InputTypeError(f"Subset: indices must be a 1-d sequence of ints, got shape {idx.shape} "
                                 f"dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}), got min {idx.min()} max {idx.max()}")
        self.dataset = dataset
        self.indices = idx

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[check_index(index, len(self), "Subset")])]

    def _get_batch(self, indices):
        getter = getattr(self.dataset, "_get_batch", None)
        return None if getter is None else getter(self.indices[indices])


class TransformDataset(Dataset):
    """``dataset`` with ``transform`` applied to each item's image (its first field) and ``target_transform``
    to its label (second field): e.g. augmentation for the training part of a :func:`random_split`. A joint
    transform (``transform.joint`` true, see :mod:`cnnkit.data.joint`) gets and returns ``(image, target)``, so a
    mask or boxes move with the image."""

    def __init__(self, dataset, transform=None, target_transform=None):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise InputTypeError(f"TransformDataset: dataset needs __getitem__ and __len__, got "
                                 f"{type(dataset).__name__}")
        _check_callable(transform, "TransformDataset", "transform")
        _check_callable(target_transform, "TransformDataset", "target_transform")
        self.dataset = dataset
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[check_index(index, len(self), "TransformDataset")]
        if not isinstance(item, tuple):
            return item if self.transform is None else self.transform(item)
        fields = list(item)
        if self.transform is not None and getattr(self.transform, "joint", False) and len(fields) > 1:
            fields[0], fields[1] = self.transform(fields[0], fields[1])
        elif self.transform is not None:
            fields[0] = self.transform(fields[0])
        if self.target_transform is not None and len(fields) > 1:
            fields[1] = self.target_transform(fields[1])
        return tuple(fields)

    def _get_batch(self, indices):
        if self.transform is not None or self.target_transform is not None:
            return None
        getter = getattr(self.dataset, "_get_batch", None)
        return None if getter is None else getter(indices)

    def __getattr__(self, name):
        inner = self.__dict__.get("dataset")
        if inner is not None and name in ("classes", "class_to_idx", "targets"):  # what callers commonly read
            return getattr(inner, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class ConcatDataset(Dataset):
    """The items of several datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise InputError("ConcatDataset: expected at least one dataset, got none")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        i = check_index(index, len(self), "ConcatDataset")
        k = bisect.bisect_right(self.cumulative_sizes, i)
        start = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][i - start]


class ImageArrayDataset(Dataset):
    """Base for datasets held as ``data`` uint8 (N, C, H, W) and ``targets`` int64 (N,).

    Items are ``(image, label)``: ``image`` float32 (C, H, W) = data / pixel_max in [0, 1] (then ``transform``),
    ``label`` an int (then ``target_transform``).
    """

    classes: list[str] = []
    pixel_max = 255  # the value of a full-intensity pixel in ``data``
    data: np.ndarray
    targets: np.ndarray

    def _init_transforms(self, transform, target_transform):
        _check_callable(transform, type(self).__name__, "transform")
        _check_callable(target_transform, type(self).__name__, "target_transform")
        self.transform = transform
        self.target_transform = target_transform

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def _scale(cls, pixels: np.ndarray) -> np.ndarray:
        return pixels.astype(np.float32) / np.float32(cls.pixel_max)

    def __getitem__(self, index):
        i = check_index(index, len(self), type(self).__name__)
        image, label = self._scale(self.data[i]), int(self.targets[i])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(images float32 NCHW in [0, 1], labels int64)`` of the whole set (no transforms)."""
        return self._scale(self.data), self.targets.copy()

    def _get_batch(self, indices):
        if self.transform is not None or self.target_transform is not None:
            return None
        return self._scale(self.data[indices]), self.targets[indices]

    def __repr__(self) -> str:
        split = "train" if getattr(self, "train", True) else "test"
        return f"{type(self).__name__}(split={split}, n={len(self)}, image_shape={tuple(self.data.shape[1:])})"


def _check_bool(value, owner: str, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{owner}: {what} must be a bool, got {type(value).__name__}")
    return bool(value)


def _check_callable(fn, owner: str, what: str) -> None:
    if fn is not None and not callable(fn):
        raise InputTypeError(f"{owner}: {what} must be callable or None, got {type(fn).__name__}")


def _split_generator(seed, generator, owner: str) -> np.random.Generator:
    own = _rng.make_rng(generator, seed, owner)
    return own if own is not None else _rng.current_rng()


def _split_lengths(n: int, lengths, owner: str) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise InputError(f"{owner}: lengths must not be empty")
    for x in lengths:
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise InputTypeError(f"{owner}: lengths must be ints or fractions, got {x!r}")
    if all(isinstance(x, numbers.Integral) for x in lengths):
        counts = [int(x) for x in lengths]
        if any(c < 0 for c in counts):
            raise InputError(f"{owner}: lengths must be non-negative, got {counts}")
    elif math.isclose(sum(lengths), 1.0, abs_tol=1e-9) and all(0 <= x <= 1 for x in lengths):
        counts = [int(math.floor(n * float(f))) for f in lengths]
        for k in range(n - sum(counts)):  # leftover items go round-robin, as in PyTorch
            counts[k % len(counts)] += 1
        for k, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"{owner}: part {k} of the split is empty", stacklevel=3)
    else:
        raise InputError(f"{owner}: fractions must lie in [0, 1] and sum to 1, got {lengths} (sum {sum(lengths)})")
    if sum(counts) != n:
        raise InputError(f"{owner}: lengths sum to {sum(counts)} but the dataset has {n} items")
    return counts


def random_split(dataset, lengths, seed=None, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths``: counts summing to ``len(dataset)``, or fractions summing to 1 (floors, then the leftover items
    go one each to the first parts, as in PyTorch). The permutation comes from ``seed`` or ``generator`` when
    given, else from the global generator (``cnnkit.manual_seed`` makes it repeatable).
    """
    n = len(dataset)
    counts = _split_lengths(n, lengths, "random_split")
    perm = _split_generator(seed, generator, "random_split").permutation(n)
    offsets = np.cumsum([0, *counts])
    return [Subset(dataset, perm[offsets[k] : offsets[k + 1]]) for k in range(len(counts))]


def train_val_split(dataset, val_fraction: float = 0.1, seed=None) -> tuple[Subset, Subset]:
    """``(train, val)`` subsets, ``val`` holding ``round(val_fraction * len(dataset))`` random items."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
        raise InputError(f"train_val_split: val_fraction must be a number in (0, 1), got {val_fraction!r}")
    n = len(dataset)
    n_val = int(round(n * float(val_fraction)))
    if n_val == 0 or n_val == n:
        raise InputError(f"train_val_split: val_fraction {val_fraction} of {n} items leaves an empty part")
    train, val = random_split(dataset, [n - n_val, n_val], seed=seed)
    return train, val
