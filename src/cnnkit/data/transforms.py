"""Image transforms and augmentation on CHW NumPy arrays (torchvision.transforms names).

Every transform takes a (C, H, W) array (an (H, W) array is treated as one channel and stays 2-d) or a
:class:`cnnkit.Tensor` (returned as a Tensor). Random transforms take ``rng`` (a NumPy Generator) or ``seed``
for a stream of their own; otherwise they draw from the DataLoader's per-batch stream, or from the global
generator (``cnnkit.manual_seed``) outside a loader.

Geometry: pixel (row i, column j) has its centre at (x=j, y=i); rotations and affine maps turn about the image
centre ((W-1)/2, (H-1)/2), positive angles turn counter-clockwise as the image is shown (as torchvision), and
are computed by inverse mapping with bilinear interpolation; points that fall outside take ``fill``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import Tensor
from ..errors import InputError, InputTypeError
from ..kernels.conv_arith import pair
from ._rng import current_rng, make_rng

__all__ = [
    "Transform", "Compose", "Lambda", "ToFloat", "ToTensor", "Normalize", "Pad", "CenterCrop", "Resize",
    "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "RandomAffine", "ColorJitter",
    "RandomErasing", "Cutout", "digits_augmentation", "cifar_augmentation", "hflip", "vflip", "pad", "crop",
    "center_crop", "resize", "affine", "rotate", "normalize", "erase", "CIFAR10_MEAN", "CIFAR10_STD",
]  # fmt: skip

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


# ---------------------------------------------------------------------------------------------- helpers
def _as_chw(x, owner: str) -> tuple[np.ndarray, bool, bool]:
    """(array as (C, H, W), was a Tensor, was 2-d)."""
    is_tensor = isinstance(x, Tensor)
    arr = x.data if is_tensor else x
    if not isinstance(arr, np.ndarray):
        raise InputTypeError(f"{owner}: expected a (C, H, W) NumPy array or Tensor, got {type(x).__name__}")
    if arr.ndim == 2:
        return arr[None], is_tensor, True
    if arr.ndim != 3:
        raise InputError(f"{owner}: expected an image of shape (C, H, W) or (H, W), got shape {arr.shape}")
    return arr, is_tensor, False


def _back(arr: np.ndarray, is_tensor: bool, was_2d: bool):
    if was_2d:
        arr = arr[0]
    return Tensor(arr) if is_tensor else arr


def _image_op(fn):
    """Decorator: unwrap Tensor / 2-d input to CHW arrays, call ``fn(chw, ...)``, wrap the result back."""

    def wrapper(img, *args, **kwargs):
        arr, is_tensor, was_2d = _as_chw(img, fn.__name__)
        return _back(fn(arr, *args, **kwargs), is_tensor, was_2d)

    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return wrapper


def _float_work(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.kind == "f" else arr.astype(np.float32)


def _restore(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Cast an interpolated result back to the input dtype (rounding and clipping integer types)."""
    if like.dtype.kind == "f":
        return out.astype(like.dtype, copy=False)
    if like.dtype.kind == "b":
        return out >= 0.5
    info = np.iinfo(like.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(like.dtype)


def _size(value, owner: str, what: str) -> tuple[int, int]:
    """A positive (H, W) size from an int or a pair of ints."""
    h, w = pair(value, what, owner)
    if h < 1 or w < 1:
        raise InputError(f"{owner}: {what} must be positive ints, got {value!r}")
    return h, w


def resize_size(size, owner: str):
    """A resize target: a positive int (the shorter side) or an (H, W) pair."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        if size < 1:
            raise InputError(f"{owner}: size must be positive, got {size}")
        return int(size)
    return _size(size, owner, "size")


def _fill_values(fill, channels: int, owner: str) -> np.ndarray:
    f = np.asarray(fill, dtype=np.float64).reshape(-1)
    if f.size == 1:
        return np.full(channels, f[0])
    if f.size != channels:
        raise InputError(f"{owner}: fill has {f.size} values but the image has {channels} channels")
    return f


def _range(value, owner: str, what: str, center: float = 0.0, low: float | None = None) -> tuple[float, float]:
    """A number v gives (center - v, center + v); a pair is taken as (min, max)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise InputError(f"{owner}: {what} must be non-negative when a single number, got {value}")
        lo, hi = center - float(value), center + float(value)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise InputError(f"{owner}: {what} must be a number or a (min, max) pair, got {value!r}") from None
        if lo > hi:
            raise InputError(f"{owner}: {what} range must have min <= max, got {value!r}")
    if low is not None:
        lo = max(lo, low)
    return lo, hi


# ---------------------------------------------------------------------------------------------- functional
@_image_op
def hflip(img: np.ndarray) -> np.ndarray:
    """Mirror left-right."""
    return img[:, :, ::-1].copy()


@_image_op
def vflip(img: np.ndarray) -> np.ndarray:
    """Mirror top-bottom."""
    return img[:, ::-1, :].copy()


def _padding(padding, owner: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from an int, (left/right, top/bottom) or (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        p = (padding,) * 4
    else:
        p = tuple(padding)
        if len(p) == 2:
            p = (p[0], p[1], p[0], p[1])
        if len(p) != 4:
            raise InputError(f"{owner}: padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in p):
        raise InputError(f"{owner}: padding must be non-negative ints, got {padding!r}")
    return tuple(int(v) for v in p)


@_image_op
def pad(img: np.ndarray, padding, fill=0) -> np.ndarray:
    """Pad with a constant: ``padding`` int, (left/right, top/bottom) or (left, top, right, bottom)."""
    left, top, right, bottom = _padding(padding, "pad")
    c, h, w = img.shape
    out = np.empty((c, h + top + bottom, w + left + right), dtype=img.dtype)
    out[...] = _fill_values(fill, c, "pad").astype(img.dtype)[:, None, None]
    out[:, top : top + h, left : left + w] = img
    return out


@_image_op
def crop(img: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The window of ``height`` x ``width`` at (``top``, ``left``); it must lie inside the image."""
    _, h, w = img.shape
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > h or left + width > w:
        raise InputError(f"crop: window top={top} left={left} {height}x{width} does not fit an image of {h}x{w}")
    return img[:, top : top + height, left : left + width].copy()


@_image_op
def center_crop(img: np.ndarray, size) -> np.ndarray:
    """Central ``size`` window; an image smaller than ``size`` is first padded with zeros (as torchvision)."""
    th, tw = _size(size, "center_crop", "size")
    _, h, w = img.shape
    if th > h or tw > w:
        pl, pt = max(tw - w, 0) // 2, max(th - h, 0) // 2
        img = pad(img, (pl, pt, max(tw - w, 0) - pl, max(th - h, 0) - pt))
        _, h, w = img.shape
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return img[:, top : top + th, left : left + tw].copy()


def _linear_weights(n_in: int, n_out: int):
    """Source indices and weights of bilinear resizing along one axis (half-pixel centres, no antialias)."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    return i0, i1, lam


def _check_interpolation(interpolation: str, owner: str) -> None:
    if interpolation not in ("bilinear", "nearest"):
        raise InputError(f"{owner}: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")


def output_size(h: int, w: int, size, owner: str = "resize") -> tuple[int, int]:
    """The (H, W) that ``resize`` gives an h x w image: ``size=(H, W)``, or an int for the shorter side."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        if size < 1:
            raise InputError(f"{owner}: size must be positive, got {size}")
        return (int(size), int(size * w / h)) if h <= w else (int(size * h / w), int(size))
    return _size(size, owner, "size")


@_image_op
def resize(img: np.ndarray, size, interpolation: str = "bilinear") -> np.ndarray:
    """Resize to ``size=(H, W)``; an int matches the shorter side, keeping the aspect ratio. ``interpolation``
    'bilinear' (half-pixel centres) or 'nearest' (output pixel i reads source ``floor(i * in / out)``, as
    torchvision; for masks and other label maps)."""
    _check_interpolation(interpolation, "resize")
    _, h, w = img.shape
    th, tw = output_size(h, w, size)
    if (th, tw) == (h, w):
        return img.copy()
    if interpolation == "nearest":
        rows = np.minimum((np.arange(th) * h) // th, h - 1)
        cols = np.minimum((np.arange(tw) * w) // tw, w - 1)
        return img[:, rows[:, None], cols[None, :]]
    x = _float_work(img)
    y0, y1, ly = _linear_weights(h, th)
    x0, x1, lx = _linear_weights(w, tw)
    ly, lx = ly.astype(x.dtype), lx.astype(x.dtype)
    rows = x[:, y0, :] * (1 - ly)[:, None] + x[:, y1, :] * ly[:, None]
    out = rows[:, :, x0] * (1 - lx) + rows[:, :, x1] * lx
    return _restore(out, img)


def _bilinear_sample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, fill) -> np.ndarray:
    """Sample ``img`` (C, H, W) at float pixel coordinates (xs, ys); outside neighbours count as ``fill``.

    The image gets a border of ``fill`` (1 pixel before, 2 after) and coordinates are clamped into it, so a
    point beyond the border reads pure fill and one near the edge blends image and fill.
    """
    c, h, w = img.shape
    snap_x, snap_y = np.rint(xs), np.rint(ys)  # exact grid points stay exact (e.g. 90-degree turns)
    xs = np.clip(np.where(np.abs(xs - snap_x) < 1e-9, snap_x, xs), -1.0, float(w))
    ys = np.clip(np.where(np.abs(ys - snap_y) < 1e-9, snap_y, ys), -1.0, float(h))
    x0, y0 = np.floor(xs), np.floor(ys)
    wx, wy = xs - x0, ys - y0
    src = _float_work(img)
    padded = np.empty((c, h + 3, w + 3), dtype=src.dtype)
    padded[...] = _fill_values(fill, c, "affine").astype(src.dtype)[:, None, None]
    padded[:, 1 : h + 1, 1 : w + 1] = src
    flat = padded.reshape(c, -1)
    stride = w + 3
    idx = (y0.astype(np.int64) + 1) * stride + (x0.astype(np.int64) + 1)
    top = flat[:, idx] * (1 - wx) + flat[:, idx + 1] * wx
    bottom = flat[:, idx + stride] * (1 - wx) + flat[:, idx + stride + 1] * wx
    return _restore(top * (1 - wy) + bottom * wy, img)


def _nearest_sample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, fill) -> np.ndarray:
    """Sample ``img`` (C, H, W) at the nearest pixel of float coordinates (xs, ys); points outside get ``fill``
    (label maps: no value is ever mixed with another)."""
    c, h, w = img.shape
    xi, yi = np.rint(xs).astype(np.int64), np.rint(ys).astype(np.int64)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.empty((c, *xs.shape), dtype=img.dtype)
    out[...] = _fill_values(fill, c, "affine").astype(img.dtype)[:, None, None]
    out[:, inside] = img[:, yi[inside], xi[inside]]
    return out


def _affine_matrix(angle: float, scale: float, shear: tuple[float, float]) -> np.ndarray:
    """2x2 forward map in (x right, y down) coordinates: scale, then shear, then a counter-clockwise turn."""
    a = math.radians(angle)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    sx, sy = (math.tan(math.radians(s)) for s in shear)
    sh = np.array([[1.0, sx], [0.0, 1.0]]) @ np.array([[1.0, 0.0], [sy, 1.0]])
    return rot @ sh * scale


@_image_op
def affine(img: np.ndarray, angle: float = 0.0, translate=(0.0, 0.0), scale: float = 1.0, shear=0.0, fill=0,
           interpolation: str = "bilinear"):
    """Affine map about the image centre: scale, shear, turn ``angle`` degrees counter-clockwise, then shift by
    ``translate=(dx, dy)`` pixels (right, down). Inverse mapping, ``interpolation`` 'bilinear' or 'nearest'.

    ``shear``: degrees, a number (x only) or (x, y); an x-shear moves each point right by
    ``tan(shear_x) * (y - cy)`` (rows below the centre go right), a y-shear down by ``tan(shear_y) * (x - cx)``.
    """
    _check_interpolation(interpolation, "affine")
    if scale <= 0:
        raise InputError(f"affine: scale must be positive, got {scale}")
    shear = (float(shear), 0.0) if isinstance(shear, numbers.Real) else tuple(float(s) for s in shear)
    if len(shear) != 2:
        raise InputError(f"affine: shear must be a number or (x, y) degrees, got {shear!r}")
    (a, b), (c, d) = _affine_matrix(float(angle), float(scale), shear).tolist()
    det = a * d - b * c
    if abs(det) < 1e-12:
        raise InputError(f"affine: the map (angle={angle}, scale={scale}, shear={shear}) is not invertible")
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    _, h, w = img.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    dx = (np.arange(w, dtype=np.float64) - cx - float(translate[0]))[None, :]
    dy = (np.arange(h, dtype=np.float64) - cy - float(translate[1]))[:, None]
    src_x = ia * dx + ib * dy + cx
    src_y = ic * dx + id_ * dy + cy
    sample = _nearest_sample if interpolation == "nearest" else _bilinear_sample
    return sample(img, src_x, src_y, fill)


def rotate(img, angle: float, fill=0, interpolation: str = "bilinear"):
    """Turn ``angle`` degrees counter-clockwise about the centre."""
    return affine(img, angle=angle, fill=fill, interpolation=interpolation)


@_image_op
def normalize(img: np.ndarray, mean, std) -> np.ndarray:
    """``(img - mean[c]) / std[c]`` per channel (float output)."""
    c = img.shape[0]
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    for what, v in (("mean", mean), ("std", std)):
        if v.size not in (1, c):
            raise InputError(f"normalize: {what} has {v.size} values but the image has {c} channels")
    if np.any(std <= 0):
        raise InputError(f"normalize: std must be positive, got {std.tolist()}")
    x = _float_work(img)
    return ((x - mean.astype(x.dtype)[:, None, None]) / std.astype(x.dtype)[:, None, None]).astype(x.dtype)


@_image_op
def erase(img: np.ndarray, top: int, left: int, height: int, width: int, value=0) -> np.ndarray:
    """Copy of ``img`` with the window set to ``value`` (a number, per-channel values, or an array)."""
    out = img.copy()
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None, None]
    out[:, top : top + height, left : left + width] = v
    return out


# ---------------------------------------------------------------------------------------------- classes
class Transform:
    """Base class: subclasses implement ``apply(chw_array)``; ``__call__`` handles Tensors and 2-d input."""

    def __call__(self, img):
        arr, is_tensor, was_2d = _as_chw(img, type(self).__name__)
        return _back(self.apply(arr), is_tensor, was_2d)

    def apply(self, img: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class RandomTransform(Transform):
    """A transform that draws random parameters: from its own ``rng``/``seed`` or the current stream."""

    def __init__(self, rng=None, seed=None):
        self._rng = make_rng(rng, seed, type(self).__name__)

    @property
    def rng(self) -> np.random.Generator:
        return self._rng if self._rng is not None else current_rng()


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise InputTypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap any function as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise InputTypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, img):
        return self.fn(img)

    def __repr__(self) -> str:
        return f"Lambda({getattr(self.fn, '__name__', self.fn)!r})"


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind == "b":
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu":
        return (arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)).astype(np.float32)
    raise InputTypeError(f"ToFloat: cannot convert an array of dtype {arr.dtype}")


class ToFloat(Transform):
    """Integer images to float32 in [0, 1] (uint8 / 255, other integer types / their maximum); floats to float32."""

    def apply(self, img):
        return _to_float(img)


class ToTensor:
    """A Pillow image or an (H, W) / (H, W, C) array (as torchvision) to float32 (C, H, W) in [0, 1]."""

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            pic = pic.data
        if not isinstance(pic, np.ndarray):
            try:
                pic = np.asarray(pic)  # Pillow images support the array protocol
            except Exception as err:
                raise InputTypeError(f"ToTensor: expected a Pillow image or an array, got "
                                     f"{type(pic).__name__}") from err
        if pic.ndim == 2:
            pic = pic[:, :, None]
        if pic.ndim != 3:
            raise InputError(f"ToTensor: expected an (H, W) or (H, W, C) image, got shape {pic.shape}")
        return np.ascontiguousarray(_to_float(pic).transpose(2, 0, 1))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize(Transform):
    """Per-channel ``(x - mean) / std``."""

    def __init__(self, mean, std):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s <= 0 for s in self.std):
            raise InputError(f"Normalize: std must be positive, got {self.std}")

    def apply(self, img):
        return normalize(img, self.mean, self.std)


class Pad(Transform):
    """Constant padding (see :func:`pad`)."""

    def __init__(self, padding, fill=0):
        self.padding = _padding(padding, "Pad")
        self.fill = fill

    def apply(self, img):
        return pad(img, self.padding, self.fill)


class CenterCrop(Transform):
    """Central crop of ``size`` (int or (H, W))."""

    def __init__(self, size):
        self.size = _size(size, "CenterCrop", "size")

    def apply(self, img):
        return center_crop(img, self.size)


class Resize(Transform):
    """Bilinear resize to ``size`` (H, W); an int matches the shorter side."""

    def __init__(self, size):
        self.size = resize_size(size, "Resize")

    def apply(self, img):
        return resize(img, self.size)


class RandomCrop(RandomTransform):
    """Pad by ``padding`` (with ``pad_value``), then cut a random window of ``size``."""

    def __init__(self, size, padding=0, pad_value=0, rng=None, seed=None):
        super().__init__(rng, seed)
        self.size = _size(size, "RandomCrop", "size")
        self.padding = _padding(padding, "RandomCrop")
        self.pad_value = pad_value

    def apply(self, img):
        if any(self.padding):
            img = pad(img, self.padding, self.pad_value)
        th, tw = self.size
        _, h, w = img.shape
        if th > h or tw > w:
            raise InputError(f"RandomCrop: crop size {self.size} is larger than the (padded) image {h}x{w}")
        rng = self.rng
        top = int(rng.integers(0, h - th + 1))
        left = int(rng.integers(0, w - tw + 1))
        return img[:, top : top + th, left : left + tw].copy()


class RandomHorizontalFlip(RandomTransform):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, rng=None, seed=None):
        super().__init__(rng, seed)
        if not 0 <= p <= 1:
            raise InputError(f"RandomHorizontalFlip: p must lie in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, img):
        return hflip(img) if self.rng.random() < self.p else img


class RandomVerticalFlip(RandomTransform):
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5, rng=None, seed=None):
        super().__init__(rng, seed)
        if not 0 <= p <= 1:
            raise InputError(f"RandomVerticalFlip: p must lie in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, img):
        return vflip(img) if self.rng.random() < self.p else img


class RandomAffine(RandomTransform):
    """Random affine map about the centre (bilinear; outside points get ``fill``).

    ``degrees``: d for (-d, d) or (min, max); ``translate=(a, b)``: shifts up to ``a*W`` and ``b*H`` pixels,
    rounded to whole pixels (as torchvision); ``scale=(min, max)``; ``shear``: s for an x-shear in (-s, s),
    (min, max), or (xmin, xmax, ymin, ymax) degrees.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, fill=0, rng=None, seed=None):
        super().__init__(rng, seed)
        name = type(self).__name__
        self.degrees = _range(degrees, name, "degrees")
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0 <= t <= 1 for t in translate):
                raise InputError(f"{name}: translate must be (a, b) fractions in [0, 1], got {translate!r}")
        self.translate = translate
        if scale is not None:
            scale = tuple(float(s) for s in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise InputError(f"{name}: scale must be (min, max) with 0 < min <= max, got {scale!r}")
        self.scale = scale
        if shear is not None:
            if isinstance(shear, numbers.Real):
                shear = (*_range(shear, name, "shear"), 0.0, 0.0)
            else:
                shear = tuple(float(s) for s in shear)
                if len(shear) == 2:
                    shear = (*shear, 0.0, 0.0)
                if len(shear) != 4 or shear[0] > shear[1] or shear[2] > shear[3]:
                    raise InputError(f"{name}: shear must be s, (min, max) or (xmin, xmax, ymin, ymax), got {shear!r}")
        self.shear = shear
        self.fill = fill

    def get_params(self, height: int, width: int, rng: np.random.Generator):
        """(angle, (dx, dy), scale, (shear_x, shear_y)) drawn from the configured ranges."""
        angle = float(rng.uniform(*self.degrees))
        if self.translate is not None:
            dx = float(round(rng.uniform(-self.translate[0] * width, self.translate[0] * width)))
            dy = float(round(rng.uniform(-self.translate[1] * height, self.translate[1] * height)))
        else:
            dx = dy = 0.0
        scale = float(rng.uniform(*self.scale)) if self.scale is not None else 1.0
        if self.shear is not None:
            shear = (float(rng.uniform(self.shear[0], self.shear[1])), float(rng.uniform(self.shear[2], self.shear[3])))
        else:
            shear = (0.0, 0.0)
        return angle, (dx, dy), scale, shear

    def apply(self, img):
        angle, translate, scale, shear = self.get_params(img.shape[1], img.shape[2], self.rng)
        return affine(img, angle, translate, scale, shear, self.fill)


class RandomRotation(RandomAffine):
    """Turn by a random angle in (-degrees, degrees) (or (min, max)) about the centre; outside gets ``fill``."""

    def __init__(self, degrees, fill=0, rng=None, seed=None):
        super().__init__(degrees, fill=fill, rng=rng, seed=seed)


class ColorJitter(RandomTransform):
    """Random brightness, contrast and saturation (in that order) for images in [0, 1] (output clipped).

    Each factor is drawn from ``[max(0, 1 - v), 1 + v]`` (or a given (min, max)); brightness scales the
    pixels, contrast blends with the mean grey level, saturation (3 channels) blends with the grey image.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, rng=None, seed=None):
        super().__init__(rng, seed)
        name = type(self).__name__
        self.brightness = _range(brightness, name, "brightness", center=1.0, low=0.0)
        self.contrast = _range(contrast, name, "contrast", center=1.0, low=0.0)
        self.saturation = _range(saturation, name, "saturation", center=1.0, low=0.0)

    @staticmethod
    def _gray(x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 3:
            return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
        return x.mean(axis=0, keepdims=True)

    def apply(self, img):
        x = _float_work(img)
        rng = self.rng
        if self.brightness != (1.0, 1.0):
            x = np.clip(x * rng.uniform(*self.brightness), 0, 1)
        if self.contrast != (1.0, 1.0):
            f = rng.uniform(*self.contrast)
            x = np.clip(f * x + (1 - f) * self._gray(x).mean(), 0, 1)
        if self.saturation != (1.0, 1.0) and x.shape[0] == 3:
            f = rng.uniform(*self.saturation)
            x = np.clip(f * x + (1 - f) * self._gray(x), 0, 1)
        return _restore(x, img)


class RandomErasing(RandomTransform):
    """With probability ``p``, set a random rectangle to ``value`` (Zhong et al., 2017; as torchvision).

    The rectangle covers a fraction of the area drawn from ``scale`` with aspect ratio (h / w) drawn
    log-uniformly from ``ratio``; up to 10 tries to fit it, else the image is returned unchanged.
    ``value``: a number, per-channel values, or ``'random'`` (standard normal noise).
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, rng=None, seed=None):
        super().__init__(rng, seed)
        name = type(self).__name__
        if not 0 <= p <= 1:
            raise InputError(f"{name}: p must lie in [0, 1], got {p}")
        scale, ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise InputError(f"{name}: scale must be (min, max) with 0 < min <= max <= 1, got {scale!r}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise InputError(f"{name}: ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        if isinstance(value, str) and value != "random":
            raise InputError(f"{name}: value must be a number, per-channel values or 'random', got {value!r}")
        self.p, self.scale, self.ratio, self.value = float(p), scale, ratio, value

    def get_params(self, img: np.ndarray, rng: np.random.Generator):
        """(top, left, height, width, value) of the rectangle, or None when no try fits."""
        c, h, w = img.shape
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            area = h * w * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if not (0 < eh < h and 0 < ew < w):
                continue
            top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            if isinstance(self.value, str):
                value = rng.standard_normal((c, eh, ew)).astype(img.dtype if img.dtype.kind == "f" else np.float32)
            else:
                value = self.value
            return top, left, eh, ew, value
        return None

    def apply(self, img):
        rng = self.rng
        if rng.random() >= self.p:
            return img
        params = self.get_params(img, rng)
        return img if params is None else erase(img, *params)


class Cutout(RandomTransform):
    """Set a ``size`` x ``size`` square at a random centre to ``value`` (DeVries & Taylor, 2017); the square
    may be cut by the border. Applied with probability ``p``."""

    def __init__(self, size: int, p: float = 1.0, value=0, rng=None, seed=None):
        super().__init__(rng, seed)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise InputError(f"Cutout: size must be a positive int, got {size!r}")
        if not 0 <= p <= 1:
            raise InputError(f"Cutout: p must lie in [0, 1], got {p}")
        self.size, self.p, self.value = int(size), float(p), value

    def apply(self, img):
        rng = self.rng
        if rng.random() >= self.p:
            return img
        _, h, w = img.shape
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        top, left = max(cy - self.size // 2, 0), max(cx - self.size // 2, 0)
        bottom, right = min(cy - self.size // 2 + self.size, h), min(cx - self.size // 2 + self.size, w)
        return erase(img, top, left, bottom - top, right - left, self.value)


# ---------------------------------------------------------------------------------------------- presets
def digits_augmentation(degrees: float = 10.0, translate: float = 0.125, scale=(0.9, 1.1), rng=None, seed=None):
    """Augmentation for handwritten digits: small rotations (at most ``degrees``, default 10), shifts (up to
    ``translate`` of the width/height: one pixel on 8x8 digits) and scaling.

    No flips and no large rotations: a mirrored or far-turned digit is a different symbol or none (a flipped
    2 or 5, a 6 turned into a 9), so those "augmentations" would teach wrong labels.
    """
    if degrees > 30:
        raise InputError(f"digits_augmentation: rotations above 30 degrees change a digit's meaning, got {degrees}")
    return Compose([RandomAffine(degrees, translate=(translate, translate), scale=scale, rng=rng, seed=seed)])


def cifar_augmentation(size: int = 32, padding: int = 4, mean=None, std=None, rng=None, seed=None):
    """The standard CIFAR recipe: random ``size`` crop of the image padded by ``padding`` (zeros) and a
    horizontal flip with probability 0.5; then ``Normalize(mean, std)`` when given (e.g. CIFAR10_MEAN/STD)."""
    gen = make_rng(rng, seed, "cifar_augmentation")
    steps = [RandomCrop(size, padding=padding, rng=gen), RandomHorizontalFlip(0.5, rng=gen)]
    if (mean is None) != (std is None):
        raise InputError("cifar_augmentation: pass both mean and std, or neither")
    if mean is not None:
        steps.append(Normalize(mean, std))
    return Compose(steps)
