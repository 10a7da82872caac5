"""Segmentation image folders: ``images/*.png`` with ``masks/<same stem>.png`` (the Pascal VOC layout).

A mask is an index image: a palette PNG ('P' mode, whose palette indices are the classes, as VOC's
SegmentationClass files) or a grey one; value 0 is the background, 1..C-1 the classes, 255 "ignore" (object
borders, unlabelled pixels). Files are read by the guarded readers of :mod:`cnnkit.data.images`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .dataset import Dataset, _check_callable, check_index
from .images import IMAGE_EXTENSIONS, image_size, open_image, read_mask

__all__ = ["SegmentationFolder", "IGNORE_VALUE", "read_classes"]

IGNORE_VALUE = 255


def read_classes(path) -> tuple[str, ...] | None:
    """Class names from a text file, one per line, background first (None when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return None
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                  if line.strip())
    if not 2 <= len(names) <= IGNORE_VALUE:
        raise InputError(f"{path}: expected 2 to {IGNORE_VALUE} class names (background first, one per line), got "
                         f"{len(names)}")
    return names


class SegmentationFolder(Dataset):
    """Items ``(image, mask)`` from ``root/images/<name>.<ext>`` and ``root/masks/<name>.png``: ``image`` float32
    (C, H, W) in [0, 1] (``mode`` 'RGB' or 'L'), ``mask`` int64 (H, W).

    ``size`` (int or (H, W)) resizes images bilinearly and masks by nearest neighbour, so batches stack.
    ``classes`` (names, background first) fixes the valid mask values 0..len(classes)-1 (plus 255); None takes
    them from the masks (0 up to the largest value found, named "background", "class 1", ...). Every image is
    matched to its mask and every mask checked when the dataset is built, so a problem is reported before any
    training: a missing mask, a mask whose size differs from its image, a value outside the classes.
    ``transform``: a joint transform (:mod:`cnnkit.data.joint`) of (image, mask).
    """

    def __init__(self, root, size=None, classes=None, mode: str = "RGB", transform=None):
        from .transforms import _size

        self.root = Path(root)
        images_dir, masks_dir = self.root / "images", self.root / "masks"
        for d in (images_dir, masks_dir):
            if not d.is_dir():
                raise InputError(f"segmentation folder: expected {images_dir} and {masks_dir} (images and their "
                                 f"masks of the same names), but {d} is not a folder")
        if mode not in ("RGB", "L"):
            raise InputError(f"SegmentationFolder: mode must be 'RGB' or 'L', got {mode!r}")
        _check_callable(transform, "SegmentationFolder", "transform")
        self.size = None if size is None else _size(size, "SegmentationFolder", "size")
        self.mode, self.transform = mode, transform
        self.samples = self._pair(images_dir, masks_dir)
        found = self._check_masks()
        if classes is None:
            classes = ("background", *(f"class {i}" for i in range(1, max(found, 1) + 1)))
        self.classes = tuple(str(c) for c in classes)
        if found >= len(self.classes):
            for _, mask_path in self.samples:  # name the first file holding a value outside the classes
                self._read_mask(mask_path)

    @staticmethod
    def _pair(images_dir: Path, masks_dir: Path) -> list[tuple[Path, Path]]:
        images = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise InputError(f"segmentation folder: no image files ({', '.join(IMAGE_EXTENSIONS)}) in {images_dir}")
        samples = []
        for image in images:
            mask = masks_dir / f"{image.stem}.png"
            if not mask.is_file():
                raise InputError(f"segmentation folder: the image {image} has no mask {mask}")
            samples.append((image, mask))
        return samples

    def _check_masks(self) -> int:
        """Check every pair (sizes, mask values); returns the largest class value found (255 not counted)."""
        largest = 0
        self.classes = None
        self.image_sizes = set()  # the (width, height) of the files
        for image_path, mask_path in self.samples:
            iw, ih = image_size(image_path)
            self.image_sizes.add((iw, ih))
            mask = read_mask(mask_path)
            if mask.shape != (ih, iw):
                raise InputError(f"{mask_path}: the mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                                 f"{image_path.name} is {iw}x{ih} (width x height); they must match")
            values = mask[mask != IGNORE_VALUE]
            if values.size:
                if values.min() < 0:
                    raise InputError(f"{mask_path}: mask value {int(values.min())} is negative; expected class "
                                     f"indices 0 and up (255 = ignore)")
                largest = max(largest, int(values.max()))
        return largest

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = read_mask(path)
        if self.classes is not None:
            bad = (mask >= len(self.classes)) & (mask != IGNORE_VALUE)
            if bad.any():
                value = int(mask[bad][0])
                raise InputError(f"{path}: mask value {value} is outside the {len(self.classes)} classes "
                                 f"(0..{len(self.classes) - 1}: {', '.join(self.classes)}; 255 = ignore)")
        return mask

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        from .transforms import resize

        image_path, mask_path = self.samples[check_index(index, len(self), "SegmentationFolder")]
        image = open_image(image_path, self.mode, self.size)
        mask = self._read_mask(mask_path)
        if self.size is not None and mask.shape != self.size:
            mask = resize(mask, self.size, interpolation="nearest")
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask

    def __repr__(self) -> str:
        return f"SegmentationFolder({str(self.root)!r}, {len(self)} images, {len(self.classes)} classes)"
