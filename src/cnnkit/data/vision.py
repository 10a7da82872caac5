"""MNIST, Fashion-MNIST and CIFAR-10 from their original files, with optional verified download.

The mirror lists are class attributes (``MNIST.mirrors = [...]``) so they can point at another server.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputTypeError
from .dataset import DatasetError, ImageArrayDataset, _check_bool
from .download import download_from_mirrors, extract_archive
from .formats import read_cifar_batch, read_cifar_meta, read_idx


def _check_root(root, owner: str) -> Path:
    if not isinstance(root, (str, Path)):
        raise InputTypeError(f"{owner}: root must be a path (str or Path), got {type(root).__name__}")
    return Path(root).expanduser()


class _FileDataset(ImageArrayDataset):
    """A dataset read from its original files under ``root``, optionally downloaded there first."""

    def _set_up(self, root, train, download, transform, target_transform) -> None:
        name = type(self).__name__
        self.root = _check_root(root, name)
        self.train = _check_bool(train, name, "train")
        self._init_transforms(transform, target_transform)
        if _check_bool(download, name, "download"):
            self.download()


class MNIST(_FileDataset):
    """MNIST handwritten digits from the IDX files: 60,000 train / 10,000 test 28x28 images.

    Files live in ``root/MNIST/raw/`` (``<ClassName>/raw`` for subclasses), gzip-compressed or unpacked.
    ``download=True`` fetches missing files from ``mirrors`` (tried in order) and checks their MD5.
    ``data``: uint8 (N, 1, 28, 28); ``targets``: int64 (N,).
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    training_files = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    test_files = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    classes = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]  # fmt: skip

    def __init__(self, root, train: bool = True, download: bool = False, transform=None, target_transform=None):
        self._set_up(root, train, download, transform, target_transform)
        name = type(self).__name__
        stems = self.training_files if self.train else self.test_files
        paths = [self._find(stem) for stem in stems]
        missing = [stem + ".gz" for stem, p in zip(stems, paths, strict=True) if p is None]
        if missing:
            raise FileNotFoundError(
                f"{name}: missing {', '.join(missing)} in {self.raw_folder} (gzip-compressed, or unpacked without "
                f".gz); put the files there, or pass download=True to fetch them from {self.mirrors[0]}"
            )
        self.data, self.targets = self._load(*paths)

    @property
    def raw_folder(self) -> Path:
        return self.root / type(self).__name__ / "raw"

    def _find(self, stem: str) -> Path | None:
        for candidate in (self.raw_folder / stem, self.raw_folder / (stem + ".gz")):
            if candidate.is_file():
                return candidate
        return None

    def _load(self, images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DatasetError(
                f"{name}: {images_path} should hold uint8 images (N, H, W), got {images.dtype} of shape {images.shape}"
            )
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetError(
                f"{name}: {labels_path} should hold integer labels (N,), got {labels.dtype} of shape {labels.shape}"
            )
        if len(images) != len(labels):
            raise DatasetError(f"{name}: {images_path} has {len(images)} images but {labels_path} {len(labels)} labels")
        labels = labels.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise DatasetError(
                f"{name}: {labels_path} has labels {labels.min()}..{labels.max()}, expected 0..{len(self.classes) - 1}"
            )
        return images[:, None, :, :], labels

    def download(self) -> None:
        """Fetch every missing file (train and test) into ``raw_folder``, verifying MD5s."""
        for filename, md5 in self.resources:
            stem = filename[:-3] if filename.endswith(".gz") else filename
            if (self.raw_folder / stem).is_file():
                continue
            download_from_mirrors(self.mirrors, filename, self.raw_folder, md5=md5, progress=True)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grayscale clothing images in the MNIST IDX format (10 classes)."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class CIFAR10(_FileDataset):
    """CIFAR-10: 50,000 train / 10,000 test 32x32 colour images in 10 classes, from the python batches.

    The batches live in ``root/cifar-10-batches-py/`` (unpacked from ``cifar-10-python.tar.gz``).
    ``download=True`` fetches the archive into ``root`` (MD5-checked; an archive already there is reused)
    and unpacks it. ``data``: uint8 (N, 3, 32, 32); ``targets``: int64 (N,). The pickles are read with an
    array-only unpickler (see :mod:`cnnkit.data.formats`); still, load only files from a trusted source.
    """

    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta_file = "batches.meta"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train: bool = True, download: bool = False, transform=None, target_transform=None):
        self._set_up(root, train, download, transform, target_transform)
        name = type(self).__name__
        folder = self.root / self.base_folder
        batches = self.train_list if self.train else self.test_list
        missing = [b for b in batches if not (folder / b).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{name}: missing {', '.join(missing)} in {folder}; unpack {self.filename} (from {self.mirrors[0]}) "
                f"into {self.root}, or pass download=True to fetch and unpack it"
            )
        parts = [read_cifar_batch(folder / b, num_classes=len(self.classes)) for b in batches]
        self.data = np.concatenate([p[0] for p in parts])
        self.targets = np.concatenate([p[1] for p in parts])
        if (folder / self.meta_file).is_file():
            names = read_cifar_meta(folder / self.meta_file)
            if len(names) != len(self.classes):
                raise DatasetError(f"{name}: {folder / self.meta_file} lists {len(names)} classes, expected 10")
            self.classes = names

    def _check_files(self) -> bool:
        folder = self.root / self.base_folder
        return all((folder / b).is_file() for b in (*self.train_list, *self.test_list))

    def download(self) -> None:
        """Fetch (or reuse) the verified archive in ``root`` and unpack the missing batch files."""
        if self._check_files():
            return
        archive = download_from_mirrors(self.mirrors, self.filename, self.root, md5=self.tgz_md5, progress=True)
        extract_archive(archive, self.root)
