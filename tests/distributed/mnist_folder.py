"""An MNIST-format data folder made from the bundled 8x8 digits (scaled 3x to 24x24, padded to 28x28), so LeNet-5
trains on real handwriting without a download: ``python tests/distributed/mnist_folder.py FOLDER [N_TRAIN N_TEST]``.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np


def _idx(arr: np.ndarray) -> bytes:
    code = 0x08  # uint8
    return bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes() + arr.tobytes()


def write_mnist_folder(root, n_train: int | None = None, n_test: int | None = None) -> Path:
    """Write ``root/MNIST/raw/*.gz`` from the digits (all of them unless limited); returns ``root``."""
    from cnnkit.data import Digits

    root = Path(root)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for train, stem_x, stem_y, n in ((True, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", n_train),
                                     (False, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", n_test)):
        x, y = Digits(train=train).arrays()
        x, y = x[:n], y[:n]
        big = np.kron(x[:, 0], np.ones((3, 3), dtype=x.dtype))  # (N, 24, 24)
        big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
        images = np.clip(np.round(big * 255), 0, 255).astype(np.uint8)
        (raw / f"{stem_x}.gz").write_bytes(gzip.compress(_idx(images), mtime=0))
        (raw / f"{stem_y}.gz").write_bytes(gzip.compress(_idx(y.astype(np.uint8)), mtime=0))
    return root


if __name__ == "__main__":
    args = sys.argv[1:]
    write_mnist_folder(args[0], *(int(a) for a in args[1:3]))
    print(f"wrote an MNIST-format folder at {args[0]}")
