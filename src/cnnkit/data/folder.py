"""ImageFolder: a class-per-subfolder tree of PNG / JPEG / BMP files, read with Pillow."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError, InputTypeError
from ..kernels.conv_arith import pair
from .dataset import Dataset, DatasetError, _check_callable, check_index

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def _open_image(path: Path, mode: str | None, size: tuple[int, int] | None) -> np.ndarray:
    """float32 CHW in [0, 1]. ``mode`` None keeps grayscale files as 1 channel, everything else becomes RGB.

    16-bit and floating-point files are converted by their real range (see :mod:`cnnkit.data.images`).
    """
    from .images import open_image

    return open_image(path, mode, size)


def _warn_links(links: list[str]) -> None:
    """Folder links are never followed (a link out of the tree, or back into it, would mislabel images or loop)."""
    if links:
        listed = ", ".join(sorted(links)[:5]) + (f" and {len(links) - 5} more" if len(links) > 5 else "")
        warnings.warn(f"ImageFolder: skipping {len(links)} linked folder(s) (folder links are not followed): "
                      f"{listed}", stacklevel=4)


class ImageFolder(Dataset):
    """Images in ``root/<class>/**/<file>`` (.png, .jpg, .jpeg, .bmp), labelled by their class folder. Links to
    folders (class folders included) are skipped with a warning; links to files are read.

    ``classes``: sorted folder names; ``class_to_idx``; ``samples``: ``[(path, class_index), ...]`` (sorted);
    ``targets``. Items are ``(image, label)``, ``image`` float32 (C, H, W) in [0, 1]: ``mode='RGB'`` (default,
    3 channels, as torchvision), ``'L'`` (1 channel) or None (grayscale files 1 channel, others RGB).
    ``size=(H, W)`` (or an int) resizes every image (bilinear) so batches stack; without it, images of
    different sizes fail when a batch is collated.

    ``on_error='raise'``: a file Pillow cannot read raises an error naming it when it is loaded.
    ``on_error='skip'``: every file is checked up front; unreadable ones are left out with a warning.
    """

    def __init__(
        self,
        root,
        transform=None,
        target_transform=None,
        on_error: str = "raise",
        mode: str | None = "RGB",
        size=None,
        extensions=IMG_EXTENSIONS,
    ):
        if not isinstance(root, (str, Path)):
            raise InputTypeError(f"ImageFolder: root must be a path (str or Path), got {type(root).__name__}")
        if on_error not in ("raise", "skip"):
            raise InputError(f"ImageFolder: on_error must be 'raise' or 'skip', got {on_error!r}")
        if mode not in ("RGB", "L", None):
            raise InputError(f"ImageFolder: mode must be 'RGB', 'L' or None, got {mode!r}")
        if size is not None:
            hw = pair(size, "size", "ImageFolder")
            if min(hw) < 1:
                raise InputError(f"ImageFolder: size must be a positive int or (H, W), got {size!r}")
            size = hw
        _check_callable(transform, "ImageFolder", "transform")
        _check_callable(target_transform, "ImageFolder", "target_transform")
        self.root = Path(root).expanduser()
        self.transform = transform
        self.target_transform = target_transform
        self.on_error = on_error
        self.mode = mode
        self.size = size
        self.extensions = tuple(e.lower() for e in extensions)
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self._scan()
        if on_error == "skip":
            self.samples = self._drop_unreadable(self.samples)
            if not self.samples:
                raise DatasetError(f"ImageFolder: no readable image in {self.root}")
        self.targets = [label for _, label in self.samples]

    @property
    def imgs(self) -> list[tuple[Path, int]]:
        return self.samples

    @staticmethod
    def find_classes(root: Path) -> tuple[list[str], dict[str, int]]:
        """Sorted class folder names (hidden ones ignored) and their indices."""
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolder: root folder not found: {root}")
        entries = [e for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")]
        _warn_links([e.path for e in entries if e.is_symlink()])
        classes = sorted(e.name for e in entries if not e.is_symlink())
        if not classes:
            raise FileNotFoundError(f"ImageFolder: no class folders in {root}; expected root/<class>/<image files>")
        return classes, {c: i for i, c in enumerate(classes)}

    def _scan(self) -> list[tuple[Path, int]]:
        samples, empty, skipped = [], [], []
        for cls in self.classes:
            found = []
            walk = []
            for folder, dirs, files in os.walk(self.root / cls, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                links = [os.path.join(folder, d) for d in dirs if os.path.islink(os.path.join(folder, d))]
                skipped.extend(links)
                walk.append((folder, files))
            for folder, files in sorted(walk):  # the order torchvision uses
                for f in sorted(files):
                    if f.lower().endswith(self.extensions) and not f.startswith("."):
                        found.append((Path(folder) / f, self.class_to_idx[cls]))
            if not found:
                empty.append(cls)
            samples.extend(found)
        _warn_links(skipped)
        if empty:
            raise FileNotFoundError(
                f"ImageFolder: no image files ({', '.join(self.extensions)}) for the classes {empty} in {self.root}"
            )
        return samples

    def _drop_unreadable(self, samples):
        from PIL import Image

        kept, bad = [], []
        for path, label in samples:
            try:
                with Image.open(path) as im:
                    im.verify()
                kept.append((path, label))
            except Exception as err:  # Pillow raises many types for bad files
                bad.append(f"{path} ({type(err).__name__})")
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            listed = ", ".join(bad[:5])
            warnings.warn(f"ImageFolder: skipping {len(bad)} unreadable file(s): {listed}{more}", stacklevel=3)
        return kept

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, path) -> np.ndarray:
        """One image file as float32 CHW in [0, 1] (after ``mode`` and ``size``)."""
        try:
            return _open_image(Path(path), self.mode, self.size)
        except FileNotFoundError:
            raise FileNotFoundError(f"ImageFolder: image file vanished: {path}") from None
        except Exception as err:  # Pillow raises many types for bad files
            raise DatasetError(f"ImageFolder: cannot read image {path}: {type(err).__name__}: {err}") from None

    def __getitem__(self, index):
        path, label = self.samples[check_index(index, len(self), "ImageFolder")]
        image = self.load(path)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __repr__(self) -> str:
        return f"ImageFolder(root={str(self.root)!r}, n={len(self)}, classes={len(self.classes)})"
