"""Rebuild src/cnnkit/data/files/digits.npz from a scikit-learn wheel (a development tool, not a test).

    pip download --no-deps scikit-learn -d WHEEL_DIR
    python tests/data/build_digits_file.py WHEEL_DIR/scikit_learn-*.whl

Reads sklearn/datasets/data/digits.csv.gz (1,797 rows: 64 pixel counts 0..16, then the label), stores the
images as uint8 (1797, 8, 8), the labels as int64 and the fixed stratified test mask (seed 1998, 360 items).
"""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from cnnkit.data.digits import DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, stratified_split

MEMBER = "sklearn/datasets/data/digits.csv.gz"
OUT = Path(__file__).resolve().parents[2] / "src" / "cnnkit" / "data" / "files" / "digits.npz"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        table = np.loadtxt(io.BytesIO(gzip.decompress(z.read(MEMBER))), delimiter=",")
    if table.shape != (1797, 65):
        raise SystemExit(f"unexpected digits table shape {table.shape}")
    images = table[:, :64].reshape(-1, 8, 8)
    if not (np.array_equal(images, np.round(images)) and images.min() >= 0 and images.max() <= 16):
        raise SystemExit("digits pixels are not integers in 0..16")
    labels = table[:, 64].astype(np.int64)
    is_test = stratified_split(labels, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED)
    np.savez_compressed(OUT, images=images.astype(np.uint8), labels=labels, is_test=is_test)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
