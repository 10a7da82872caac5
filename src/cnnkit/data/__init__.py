"""Data: datasets, downloads, the DataLoader and transforms (``torch.utils.data`` / torchvision names).

    from cnnkit.data import Digits, DataLoader, transforms as T
    loader = DataLoader(Digits(train=True, transform=T.digits_augmentation()), batch_size=64, shuffle=True)
"""

from . import transforms
from .dataset import (
    ArrayDataset,
    ConcatDataset,
    Dataset,
    DatasetError,
    Subset,
    TensorDataset,
    TransformDataset,
    random_split,
    train_val_split,
)
from .digits import Digits
from .download import ChecksumError, DownloadError, check_integrity, download_url, extract_archive, file_hash
from .folder import ImageFolder
from .formats import read_cifar_batch, read_idx, write_idx
from .loader import DataLoader, default_collate
from .synthetic import Shapes, ShapeScenes
from .vision import CIFAR10, MNIST, FashionMNIST

__all__ = [
    "ArrayDataset", "CIFAR10", "ChecksumError", "ConcatDataset", "DataLoader", "Dataset", "DatasetError",
    "Digits", "DownloadError", "FashionMNIST", "ImageFolder", "MNIST", "ShapeScenes", "Shapes", "Subset",
    "TensorDataset",
    "TransformDataset", "check_integrity", "default_collate", "download_url", "extract_archive", "file_hash",
    "random_split", "read_cifar_batch", "read_idx", "train_val_split", "transforms", "write_idx",
]  # fmt: skip
