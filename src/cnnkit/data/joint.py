"""Joint transforms: move an image and its target together (segmentation masks, detection boxes).

    from cnnkit.data import joint as J
    t = J.Compose([J.RandomHorizontalFlip(), J.RandomResizedCrop(64, scale=(0.5, 1.0))])
    image, mask = t(image, mask)                       # mask (H, W) ints: nearest, 255 outside the image
    image, target = t(image, {"boxes": boxes, "labels": labels})

A target is ``None`` (the image alone), a mask (an (H, W) integer array: moved with nearest-neighbour sampling,
pixels that come from outside the image get ``IGNORE`` = 255, the Pascal VOC "ignore" value), or a detection dict
``{"boxes": (K, 4) xyxy, "labels": (K,), ...}``. Boxes are in pixel-edge coordinates (pixel (row i, col j) spans
``[j, j + 1] x [i, i + 1]``; an image of width W spans ``[0, W]``): a flip maps x to ``W - x``, a crop shifts and
clips them to the new image, a resize scales them, a rotation takes the box around the turned corners. A box
whose clipped part is thinner than ``min_size`` pixels, or keeps less than ``min_visibility`` of its area, is
dropped, and every other per-box entry of the dict (an array whose first dimension is K, e.g. ``labels``) with it.

Images are (C, H, W) arrays (or (H, W), or Tensors) and sampled as :mod:`cnnkit.data.transforms` samples them;
random transforms take ``rng`` or ``seed`` like those, otherwise they draw from the DataLoader's per-batch stream.
A plain image transform (e.g. ``ColorJitter``) may sit inside :class:`Compose`: it changes the image only.
:class:`~cnnkit.data.TransformDataset` hands a joint transform ``(image, target)``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import InputError, InputTypeError
from . import transforms as T
from ._rng import make_rng
from .transforms import RandomTransform, Transform, _as_chw, _back, _range, _size

__all__ = [
    "JointTransform", "Compose", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "RandomResizedCrop",
    "Resize", "RandomRotation", "IGNORE", "hflip", "vflip", "crop", "resize", "rotate", "clip_boxes",
    "segmentation_augmentation", "detection_augmentation",
]  # fmt: skip

IGNORE = 255  # mask value of pixels that come from outside the image


# ---------------------------------------------------------------------------------------------- targets
def _kind(target, owner: str) -> str:
    if target is None:
        return "none"
    if isinstance(target, dict):
        if "boxes" not in target:
            raise InputError(f"{owner}: a detection target needs a 'boxes' entry, got keys {sorted(target)}")
        boxes = np.asarray(target["boxes"])
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InputError(f"{owner}: boxes must have shape (K, 4) (x1, y1, x2, y2), got {boxes.shape}")
        return "boxes"
    if isinstance(target, np.ndarray) and target.ndim == 2:
        if target.dtype.kind not in "iub":
            raise InputError(f"{owner}: a mask must hold integers (class indices), got dtype {target.dtype}")
        return "mask"
    shape = getattr(target, "shape", None)
    raise InputTypeError(f"{owner}: a target must be an (H, W) mask array, a dict with 'boxes', or None; got "
                         f"{type(target).__name__}{'' if shape is None else f' of shape {shape}'}")


def _with_boxes(target: dict, boxes: np.ndarray, keep: np.ndarray | None = None) -> dict:
    """A copy of ``target`` with new boxes; ``keep`` (a boolean over the old boxes) filters every per-box entry."""
    k = len(np.asarray(target["boxes"]))
    out = {}
    for key, value in target.items():
        if key == "boxes":
            continue
        if keep is not None and isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == k:
            value = value[keep]
        out[key] = value.copy() if isinstance(value, np.ndarray) else value
    out["boxes"] = np.ascontiguousarray(boxes, dtype=np.float32).reshape(-1, 4)
    return out


def clip_boxes(target: dict, height: int, width: int, min_size: float = 1.0, min_visibility: float = 0.0) -> dict:
    """Clip the boxes of a detection target to a ``height`` x ``width`` image; drop the boxes left thinner than
    ``min_size`` pixels (width or height) or keeping less than ``min_visibility`` of their area, with their
    labels (and every other per-box entry)."""
    boxes = np.asarray(target["boxes"], dtype=np.float64).reshape(-1, 4)
    clipped = boxes.copy()
    clipped[:, 0::2] = np.clip(boxes[:, 0::2], 0.0, width)
    clipped[:, 1::2] = np.clip(boxes[:, 1::2], 0.0, height)
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep = (w >= min_size) & (h >= min_size)
    if min_visibility > 0:
        keep &= w * h >= min_visibility * np.where(area > 0, area, np.inf)
    return _with_boxes(target, clipped[keep], keep)


def _check_mask(mask: np.ndarray, image: np.ndarray, owner: str) -> None:
    if mask.shape != image.shape[1:]:
        raise InputError(f"{owner}: the mask is {mask.shape[1]}x{mask.shape[0]} but the image "
                         f"{image.shape[2]}x{image.shape[1]} (width x height); they must match")


# ---------------------------------------------------------------------------------------------- functional
def _joint(fn):
    """Decorator: ``fn(chw, target, kind, ...)`` on a checked image and target; wraps Tensors / 2-d images back."""

    def wrapper(img, target=None, *args, **kwargs):
        arr, is_tensor, was_2d = _as_chw(img, fn.__name__)
        kind = _kind(target, fn.__name__)
        if kind == "mask":
            _check_mask(target, arr, fn.__name__)
        out, target = fn(arr, target, kind, *args, **kwargs)
        return _back(out, is_tensor, was_2d), target

    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return wrapper


@_joint
def hflip(img, target, kind):
    """Mirror image and target left-right (boxes: x -> W - x)."""
    if kind == "mask":
        target = target[:, ::-1].copy()
    elif kind == "boxes":
        w = img.shape[2]
        b = np.asarray(target["boxes"], dtype=np.float32).reshape(-1, 4)
        target = _with_boxes(target, np.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], axis=1))
    return T.hflip(img), target


@_joint
def vflip(img, target, kind):
    """Mirror image and target top-bottom (boxes: y -> H - y)."""
    if kind == "mask":
        target = target[::-1, :].copy()
    elif kind == "boxes":
        h = img.shape[1]
        b = np.asarray(target["boxes"], dtype=np.float32).reshape(-1, 4)
        target = _with_boxes(target, np.stack([b[:, 0], h - b[:, 3], b[:, 2], h - b[:, 1]], axis=1))
    return T.vflip(img), target


@_joint
def crop(img, target, kind, top: int, left: int, height: int, width: int, fill=0, min_size: float = 1.0,
         min_visibility: float = 0.0):
    """The ``height`` x ``width`` window at (``top``, ``left``), which may reach outside the image: the image gets
    ``fill`` there and a mask ``IGNORE``; boxes are shifted, clipped to the window and dropped when (almost) nothing
    is left (see :func:`clip_boxes`)."""
    if height < 1 or width < 1:
        raise InputError(f"crop: the window must be at least 1x1, got {height}x{width}")
    c, h, w = img.shape
    pad = (max(-left, 0), max(-top, 0), max(left + width - w, 0), max(top + height - h, 0))
    if any(pad):
        img = T.pad(img, pad, fill)
        if kind == "mask":
            target = T.pad(target, pad, IGNORE)
    t, lf = top + pad[1], left + pad[0]
    out = img[:, t:t + height, lf:lf + width].copy()
    if kind == "mask":
        target = target[t:t + height, lf:lf + width].copy()
    elif kind == "boxes":
        b = np.asarray(target["boxes"], dtype=np.float64).reshape(-1, 4) - np.array([left, top, left, top])
        target = clip_boxes(_with_boxes(target, b), height, width, min_size, min_visibility)
    return out, target


@_joint
def resize(img, target, kind, size):
    """Resize the image (bilinear) and the target to ``size`` ((H, W), or an int for the shorter side): a mask
    by nearest neighbour, boxes scaled by (new W / W, new H / H)."""
    _, h, w = img.shape
    th, tw = T.output_size(h, w, size)
    if kind == "mask":
        target = T.resize(target, (th, tw), interpolation="nearest")
    elif kind == "boxes":
        b = np.asarray(target["boxes"], dtype=np.float64).reshape(-1, 4) * np.array([tw / w, th / h] * 2)
        target = _with_boxes(target, b)
    return T.resize(img, (th, tw)), target


@_joint
def rotate(img, target, kind, angle: float, fill=0, min_size: float = 1.0, min_visibility: float = 0.0):
    """Turn image and target ``angle`` degrees counter-clockwise about the centre: the image bilinear, a mask by
    nearest neighbour (``IGNORE`` where the turned image leaves the frame); each box becomes the box around its
    four turned corners (larger than the object unless the angle is a multiple of 90 degrees), clipped."""
    out = T.rotate(img, angle, fill=fill)
    if kind == "mask":
        target = T.rotate(target, angle, fill=IGNORE, interpolation="nearest")
    elif kind == "boxes":
        _, h, w = img.shape
        m = T._affine_matrix(float(angle), 1.0, (0.0, 0.0))
        b = np.asarray(target["boxes"], dtype=np.float64).reshape(-1, 4)
        centre = np.array([w / 2.0, h / 2.0])
        corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1) - centre  # (K, 4, 2)
        turned = corners @ m.T + centre
        turned = np.where(np.abs(turned - np.rint(turned)) < 1e-6, np.rint(turned), turned)
        new = np.concatenate([turned.min(axis=1), turned.max(axis=1)], axis=1)
        target = clip_boxes(_with_boxes(target, new), h, w, min_size, min_visibility)
    return out, target


# ---------------------------------------------------------------------------------------------- classes
class JointTransform(Transform):
    """Base class: subclasses implement ``apply(chw_image, target) -> (image, target)``; ``__call__(image,
    target=None)`` returns ``(image, target)``. ``joint = True`` tells a dataset to pass the target too."""

    joint = True

    def __call__(self, img, target=None):
        arr, is_tensor, was_2d = _as_chw(img, type(self).__name__)
        _kind(target, type(self).__name__)
        out, target = self.apply(arr, target)
        return _back(out, is_tensor, was_2d), target

    def apply(self, img, target):  # pragma: no cover - abstract
        raise NotImplementedError


def _probability(p, owner: str) -> float:
    if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise InputError(f"{owner}: p must lie in [0, 1], got {p!r}")
    return float(p)


def _box_limits(min_size, min_visibility, owner: str) -> tuple[float, float]:
    if not isinstance(min_size, numbers.Real) or min_size < 0:
        raise InputError(f"{owner}: min_size must be a number >= 0 (pixels), got {min_size!r}")
    if not isinstance(min_visibility, numbers.Real) or not 0 <= min_visibility <= 1:
        raise InputError(f"{owner}: min_visibility must lie in [0, 1], got {min_visibility!r}")
    return float(min_size), float(min_visibility)


class Compose(JointTransform):
    """Apply transforms in order; a plain (image-only) transform changes the image and leaves the target."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise InputTypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def apply(self, img, target):
        for t in self.transforms:
            if getattr(t, "joint", False):
                img, target = t(img, target)
            else:
                img = t(img)
        return img, target

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class RandomHorizontalFlip(JointTransform, RandomTransform):
    """Mirror image and target left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, rng=None, seed=None):
        RandomTransform.__init__(self, rng, seed)
        self.p = _probability(p, type(self).__name__)

    def apply(self, img, target):
        return hflip(img, target) if self.rng.random() < self.p else (img, target)


class RandomVerticalFlip(JointTransform, RandomTransform):
    """Mirror image and target top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5, rng=None, seed=None):
        RandomTransform.__init__(self, rng, seed)
        self.p = _probability(p, type(self).__name__)

    def apply(self, img, target):
        return vflip(img, target) if self.rng.random() < self.p else (img, target)


class Resize(JointTransform):
    """Resize image and target to ``size`` (see :func:`resize`)."""

    def __init__(self, size):
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size < 1:
                raise InputError(f"Resize: size must be positive, got {size}")
            self.size = int(size)
        else:
            self.size = _size(size, "Resize", "size")

    def apply(self, img, target):
        return resize(img, target, self.size)


class RandomCrop(JointTransform, RandomTransform):
    """A random ``size`` window of the image padded by ``padding`` pixels on each side (image ``fill``, mask
    ``IGNORE``); an image smaller than ``size`` is padded up to it (``pad_if_needed``, as torchvision) or
    refused."""

    def __init__(self, size, padding: int = 0, fill=0, pad_if_needed: bool = True, min_size: float = 1.0,
                 min_visibility: float = 0.0, rng=None, seed=None):
        RandomTransform.__init__(self, rng, seed)
        name = type(self).__name__
        self.size = _size(size, name, "size")
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise InputError(f"{name}: padding must be an int >= 0, got {padding!r}")
        self.padding, self.fill, self.pad_if_needed = int(padding), fill, bool(pad_if_needed)
        self.min_size, self.min_visibility = _box_limits(min_size, min_visibility, name)

    def apply(self, img, target):
        th, tw = self.size
        _, h, w = img.shape
        p = self.padding
        span_h, span_w = h + 2 * p, w + 2 * p
        if (th > span_h or tw > span_w) and not self.pad_if_needed:
            raise InputError(f"RandomCrop: crop size {th}x{tw} is larger than the (padded) image {span_h}x{span_w}")
        rng = self.rng
        top = int(rng.integers(0, max(span_h - th, 0) + 1)) - p - max(th - span_h, 0) // 2
        left = int(rng.integers(0, max(span_w - tw, 0) + 1)) - p - max(tw - span_w, 0) // 2
        return crop(img, target, top, left, th, tw, self.fill, self.min_size, self.min_visibility)


class RandomResizedCrop(JointTransform, RandomTransform):
    """Scale and crop (torchvision's RandomResizedCrop, applied to the target too): a window covering a fraction
    of the area drawn from ``scale``, with aspect ratio (w / h) drawn log-uniformly from ``ratio`` (10 tries, then
    the central window of the nearest allowed ratio), resized to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), min_size: float = 1.0,
                 min_visibility: float = 0.0, rng=None, seed=None):
        RandomTransform.__init__(self, rng, seed)
        name = type(self).__name__
        self.size = _size(size, name, "size")
        self.scale = _range(scale, name, "scale")
        self.ratio = _range(ratio, name, "ratio")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise InputError(f"{name}: scale must be (min, max) with 0 < min <= max <= 1, got {scale!r}")
        if not 0 < self.ratio[0]:
            raise InputError(f"{name}: ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        self.min_size, self.min_visibility = _box_limits(min_size, min_visibility, name)

    def get_params(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the window."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
        aspect = width / height
        if aspect < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif aspect > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, img, target):
        top, left, h, w = self.get_params(img.shape[1], img.shape[2], self.rng)
        img, target = crop(img, target, top, left, h, w, 0, self.min_size, self.min_visibility)
        return resize(img, target, self.size)


class RandomRotation(JointTransform, RandomTransform):
    """Turn image and target by a random angle in (-degrees, degrees) (or (min, max)); see :func:`rotate`."""

    def __init__(self, degrees, fill=0, min_size: float = 1.0, min_visibility: float = 0.0, rng=None, seed=None):
        RandomTransform.__init__(self, rng, seed)
        name = type(self).__name__
        self.degrees, self.fill = _range(degrees, name, "degrees"), fill
        self.min_size, self.min_visibility = _box_limits(min_size, min_visibility, name)

    def apply(self, img, target):
        angle = float(self.rng.uniform(*self.degrees))
        return rotate(img, target, angle, self.fill, self.min_size, self.min_visibility)


def segmentation_augmentation(size: int, scale=(0.5, 1.0), vertical: bool = False, rng=None, seed=None) -> Compose:
    """The segmentation preset: a horizontal flip (p 0.5; also a vertical one with ``vertical``), then a window of
    ``scale`` of the area (aspect 3/4 to 4/3) resized back to ``size`` x ``size`` (scale + crop)."""
    gen = make_rng(rng, seed, "segmentation_augmentation")
    steps = [RandomHorizontalFlip(0.5, rng=gen)]
    if vertical:
        steps.append(RandomVerticalFlip(0.5, rng=gen))
    steps.append(RandomResizedCrop(size, scale=scale, rng=gen))
    return Compose(steps)


def detection_augmentation(size: int, scale=(0.6, 1.0), min_visibility: float = 0.3, rng=None, seed=None) -> Compose:
    """The detection preset: a horizontal flip (p 0.5), then a window of ``scale`` of the area (aspect 3/4 to 4/3)
    resized back to ``size`` x ``size``; a box keeping less than ``min_visibility`` of its area in the window is
    dropped with its label (a sliver of an object is no example of it)."""
    gen = make_rng(rng, seed, "detection_augmentation")
    return Compose([RandomHorizontalFlip(0.5, rng=gen),
                    RandomResizedCrop(size, scale=scale, min_visibility=min_visibility, rng=gen)])
