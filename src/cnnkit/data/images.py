"""Reading one picture file as a model input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["read_image"]


def read_image(path, channels: int, size: int, resize: bool = False) -> np.ndarray:
    """Read an image file as a model input: (C, H, W) float32 in [0, 1].

    The image must already have ``channels`` channels and ``size`` x ``size`` pixels, else an :class:`InputError`
    names both; with ``resize`` it is converted (to grey or RGB) and resized bilinearly instead.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as im:
            if im.mode == "P":  # a palette image: its colours, not its palette indices
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            found = len(im.getbands())
            if not resize and (found != channels or im.size != (size, size)):
                raise InputError(f"{path} is a {im.width}x{im.height} image with {found} channel(s), but the model "
                                 f"takes {size}x{size} images with {channels} channel(s); it can be converted and "
                                 f"resized to fit", field="resize")
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            array = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"cannot read {path} as an image ({err})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
