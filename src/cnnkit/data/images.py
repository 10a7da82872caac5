"""Reading picture files as model inputs: float32 (C, H, W) in [0, 1].

Pixel values are converted by the image's real range: 8-bit images / 255, 16-bit ones / 65535, 32-bit integer
images by the smallest of 255, 65535 or 2**32 - 1 that holds their values, and floating-point images (TIFF mode
'F') are taken as they are when their values lie in [0, 1] and refused otherwise (there is no range to read them
by). An image of more than ``MAX_PIXELS`` pixels is refused before it is decoded (a decompression bomb guard).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["read_image", "open_image", "read_mask", "image_size", "with_image", "expand_images", "MAX_PIXELS",
           "IMAGE_EXTENSIONS"]

MAX_PIXELS = 64 * 2 ** 20  # 8192 x 8192
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _bilinear():
    from PIL import Image

    return getattr(Image, "Resampling", Image).BILINEAR


def _high_range(im, arr: np.ndarray, path) -> float:
    """The value that maps to 1.0 for a 16/32-bit integer or float image."""
    if im.mode.startswith("I;16"):
        return 65535.0
    if im.mode == "I":
        top = float(arr.max(initial=0))
        if float(arr.min(initial=0)) < 0:
            raise InputError(f"{path}: a 32-bit integer image with negative values ({arr.min()}); cnnkit reads "
                             f"images with values from 0 up")
        return 255.0 if top <= 255 else 65535.0 if top <= 65535 else float(2 ** 32 - 1)
    finite = np.isfinite(arr)
    lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (np.nan, np.nan)
    if not finite.all() or lo < 0 or hi > 1:
        raise InputError(f"{path}: a floating-point image with values in [{lo:.4g}, {hi:.4g}]"
                         f"{'' if finite.all() else ' and NaN/inf'}; cnnkit reads floating-point images with "
                         f"values in [0, 1] (scale it, or save it as an 8- or 16-bit image)")
    return 1.0


def decode(im, mode: str, size: tuple[int, int] | None, path) -> np.ndarray:
    """An opened Pillow image as float32 (C, H, W) in [0, 1]: ``mode`` 'L' (1 channel) or 'RGB'; ``size`` (H, W)
    resizes bilinearly."""
    if im.mode == "P":  # a palette image: its colours, not its palette indices
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):  # high bit depth: through float32, by its range
        fim = im.convert("F")
        scale = _high_range(im, np.asarray(fim, dtype=np.float32), path)
        if size is not None and fim.size != (size[1], size[0]):
            fim = fim.resize((size[1], size[0]), _bilinear())
        arr = np.clip(np.asarray(fim, dtype=np.float32) / np.float32(scale), 0.0, 1.0)[None]
        return np.repeat(arr, 3, axis=0) if mode == "RGB" else arr
    if im.mode != mode:
        im = im.convert(mode)
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), _bilinear())
    arr = np.asarray(im, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return arr.astype(np.float32) / np.float32(255)


def open_image(path, mode: str | None, size: tuple[int, int] | None = None, check=None) -> np.ndarray:
    """Read an image file as float32 (C, H, W) in [0, 1] (``mode`` None: grey files 1 channel, others RGB).
    ``check(width, height, channels)`` may refuse the image before it is decoded. Every problem with the file is an
    :class:`InputError` naming it (a missing file: ``FileNotFoundError``)."""
    def read(im):
        bands = len(im.getbands()) if im.mode != "P" else (4 if "transparency" in im.info else 3)
        if check is not None:
            check(im.width, im.height, bands)
        gray = im.mode in ("1", "L", "LA", "I", "F") or im.mode.startswith("I;16")
        target = mode if mode is not None else ("L" if gray else "RGB")
        im.load()
        return decode(im, target, size, path)

    return with_image(path, read)


def image_size(path) -> tuple[int, int]:
    """(width, height) of an image file from its header (nothing decoded)."""
    return with_image(path, lambda im: (im.width, im.height))


def read_mask(path) -> np.ndarray:
    """Read a label mask: an index image (8- or 16-bit grey, or a palette PNG whose palette indices are the
    classes, the Pascal VOC convention) as an int64 (H, W) array of its values. A colour image is refused: its
    colours are not class indices."""

    def read(im):
        if im.mode not in ("P", "L", "1", "I") and not im.mode.startswith("I;16"):
            raise InputError(f"{path} is a {im.mode} image; a mask must be an index image (grey values or a palette "
                             f"PNG whose indices are the classes)")
        im.load()
        return np.asarray(im).astype(np.int64)

    return with_image(path, read)


def with_image(path, read):
    """``read(pil_image)`` on an opened image file, guarded: more than ``MAX_PIXELS`` pixels is refused before
    decoding, and every problem with the file is an :class:`InputError` naming it (a missing file:
    ``FileNotFoundError``)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{path} is a {im.width}x{im.height} image; images of more than {MAX_PIXELS:,} "
                                     f"pixels are refused (decompression bomb guard)")
                return read(im)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InputError(f"{path}: {err}") from None
    except MemoryError:
        raise InputError(f"{path}: not enough memory to decode this image") from None
    except Exception as err:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...) for a bad file
        raise InputError(f"cannot read {path} as an image ({type(err).__name__}: {err})") from None


def read_image(path, channels: int, size: int, resize: bool = False) -> np.ndarray:
    """Read an image file as a model input: (C, H, W) float32 in [0, 1].

    The image must already have ``channels`` channels and ``size`` x ``size`` pixels, else an :class:`InputError`
    names both; with ``resize`` it is converted (to grey or RGB) and resized bilinearly instead.
    """
    path = Path(path)

    def check(width, height, found):
        if not resize and (found != channels or (width, height) != (size, size)):
            raise InputError(f"{path} is a {width}x{height} image with {found} channel(s), but the model takes "
                             f"{size}x{size} images with {channels} channel(s); it can be converted and resized to "
                             f"fit", field="resize")

    return open_image(path, "L" if channels == 1 else "RGB", (size, size), check=check)


def expand_images(paths) -> list[Path]:
    """Image files from a list of files, folders (their image files, sorted; not recursive) and glob patterns
    (``"pics/*.png"``, ``"pics/**/*.jpg"``; sorted). A folder or pattern without images is an :class:`InputError`;
    a named file that does not exist is a ``FileNotFoundError``."""
    import glob

    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise InputError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the folder {path}")
            files += found
        elif path.exists() or not glob.has_magic(str(item)):
            files.append(path)
        else:
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True)
                           if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise InputError(f"no image file matches {item!r}")
            files += found
    if not files:
        raise InputError("no images given")
    return files
