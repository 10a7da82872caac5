"""Weight initialisation (PyTorch's ``nn.init``).

Every function fills ``tensor.data`` in place (a Tensor, a Parameter or a plain ndarray), keeps its dtype,
records nothing for autograd and returns the tensor. Random draws come from the library generator
(``cnnkit.random.get_rng()``, reseeded by ``ck.manual_seed``) unless a NumPy ``generator`` is passed.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import warnings

import numpy as np

from .. import random as _random
from ..autograd import Tensor
from ..errors import InputError, InputTypeError

__all__ = ["calculate_gain", "fan_in_and_fan_out", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_",
           "orthogonal_", "default_weight_and_bias_", "bilinear_kernel", "bilinear_"]

_LINEAR_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                "sigmoid")


def _array(tensor, fn: str) -> np.ndarray:
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise InputTypeError(f"init.{fn}: expected a Tensor, Parameter or ndarray, got {type(tensor).__name__}")
    if arr.dtype.kind != "f":
        raise InputTypeError(f"init.{fn}: expected a floating-point tensor, got dtype {arr.dtype}")
    return arr


def _fill(tensor, values, fn: str):
    arr = _array(tensor, fn)
    if values is not arr:
        arr[...] = values
    return tensor


def _sample_into(arr: np.ndarray, draw) -> np.ndarray:
    """Draw standard samples straight into ``arr`` when the generator can (float32/float64, C-contiguous), so a
    100M-parameter layer needs no float64 temporary; otherwise return a new float64 array of samples."""
    if arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous and arr.flags.writeable:
        draw(dtype=arr.dtype, out=arr)
        return arr
    return draw(arr.shape)


def _rng(generator) -> np.random.Generator:
    return _random.get_rng() if generator is None else generator


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 tanh, sqrt(2) relu,
    sqrt(2 / (1 + slope^2)) leaky_relu (slope ``param``, default 0.01), 3/4 selu."""
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise InputError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InputError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel) as PyTorch computes it: in * prod(kernel) and
    out * prod(kernel). A ConvTranspose2d weight (in, out/groups, kH, kW) therefore gets fan_in =
    out/groups * kH * kW, exactly like PyTorch."""
    shape = tensor.shape
    if len(shape) < 2:
        raise InputError(f"fan_in_and_fan_out: fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise InputError(f"init: mode {mode!r} is not supported, expected 'fan_in' or 'fan_out'")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with samples from U(a, b)."""
    arr = _array(tensor, "uniform_")
    values = _sample_into(arr, _rng(generator).random)
    values *= values.dtype.type(b - a)
    values += values.dtype.type(a)
    return _fill(tensor, values, "uniform_")


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with samples from N(mean, std^2)."""
    arr = _array(tensor, "normal_")
    values = _sample_into(arr, _rng(generator).standard_normal)
    values *= values.dtype.type(std)
    values += values.dtype.type(mean)
    return _fill(tensor, values, "normal_")


def constant_(tensor, val: float):
    return _fill(tensor, val, "constant_")


def zeros_(tensor):
    return _fill(tensor, 0, "zeros_")


def ones_(tensor):
    return _fill(tensor, 1, "ones_")


def eye_(tensor):
    """Identity matrix in a 2-D tensor."""
    arr = _array(tensor, "eye_")
    if arr.ndim != 2:
        raise InputError(f"init.eye_: only 2-D tensors are supported, got shape {arr.shape}")
    return _fill(tensor, np.eye(*arr.shape), "eye_")


def dirac_(tensor, groups: int = 1):
    """Dirac delta in a 3-, 4- or 5-D convolution weight: each output channel copies one input channel."""
    arr = _array(tensor, "dirac_")
    if arr.ndim not in (3, 4, 5):
        raise InputError(f"init.dirac_: only 3, 4 or 5-D tensors are supported, got shape {arr.shape}")
    if arr.shape[0] % groups:
        raise InputError(f"init.dirac_: dim 0 ({arr.shape[0]}) must be divisible by groups ({groups})")
    per_group = arr.shape[0] // groups
    arr[...] = 0
    centre = tuple(k // 2 for k in arr.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, arr.shape[1])):
            arr[(g * per_group + d, d) + centre] = 1
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity, fn) -> float | None:
    if 0 in tensor.shape:
        warnings.warn(f"init.{fn}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan) (``a`` is the leaky-relu slope for the gain)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def default_weight_and_bias_(weight, bias=None) -> None:
    """PyTorch's default for Linear and Conv layers: weight kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (0 when fan_in is 0)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """N(mean, std^2) restricted to [a, b] (absolute bounds, as PyTorch), by redrawing samples outside."""
    arr = _array(tensor, "trunc_normal_")
    if not a < b:
        raise InputError(f"init.trunc_normal_: expected a < b, got a={a}, b={b}")
    rng = _rng(generator)
    values = rng.normal(mean, std, arr.size)
    for _ in range(1000):
        bad = (values < a) | (values > b)
        n = int(bad.sum())
        if n == 0:
            break
        values[bad] = rng.normal(mean, std, n)
    else:
        raise InputError(f"init.trunc_normal_: [{a}, {b}] holds too little of N({mean}, {std}^2) to sample from")
    return _fill(tensor, values.reshape(arr.shape), "trunc_normal_")


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """A (semi-)orthogonal matrix (QR of a Gaussian matrix, sign-corrected) over the tensor flattened to
    (dim 0, rest), scaled by ``gain``."""
    arr = _array(tensor, "orthogonal_")
    if arr.ndim < 2:
        raise InputError(f"init.orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(arr.shape), "orthogonal_")


def bilinear_kernel(kh: int, kw: int | None = None) -> np.ndarray:
    """The (kh, kw) bilinear interpolation kernel of FCN's upsampling layers: per axis of size k, factor
    f = ceil(k / 2), centre c = f - 1 (k odd) or f - 0.5 (k even), value 1 - |i - c| / f; the 2-D kernel is the
    outer product. A stride-f transposed convolution with it interpolates bilinearly (k = 2f, padding f/2)."""
    kw = kh if kw is None else kw
    axes = []
    for k in (kh, kw):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise InputError(f"init.bilinear_kernel: kernel sizes must be positive ints, got {(kh, kw)}")
        f = (k + 1) // 2
        c = f - 1 if k % 2 == 1 else f - 0.5
        axes.append(1 - np.abs(np.arange(k) - c) / f)
    return np.outer(axes[0], axes[1])


def bilinear_(tensor):
    """Fill a transposed-convolution weight (in, out/groups, kH, kW) with the bilinear kernel per channel
    (:func:`bilinear_kernel`, the FCN initialisation): ``weight[i, i]`` for i < min(in, out) and zero elsewhere,
    so channel i is upsampled on its own; a weight with one output channel per group (a depthwise layer,
    ``groups=channels``) gets the kernel in every ``weight[i, 0]``."""
    arr = _array(tensor, "bilinear_")
    if arr.ndim != 4:
        raise InputError(f"init.bilinear_: expected a 4-D weight (in, out/groups, kH, kW), got shape {arr.shape}")
    kernel = bilinear_kernel(arr.shape[2], arr.shape[3]).astype(arr.dtype)
    arr[...] = 0
    if arr.shape[1] == 1:
        arr[:, 0] = kernel
    else:
        for i in range(min(arr.shape[0], arr.shape[1])):
            arr[i, i] = kernel
    return tensor


_SKIP = False


@contextlib.contextmanager
def skip_init():
    """Build modules without initialising their parameters, for a model whose weights are loaded right after:
    the parameters' memory stays untouched (a model too big for the weights offered costs no memory before the
    load refuses it) and no random numbers are drawn."""
    global _SKIP
    old, _SKIP = _SKIP, True
    try:
        yield
    finally:
        _SKIP = old


def _skippable(fn):
    @functools.wraps(fn)
    def init(tensor, *args, **kwargs):
        if _SKIP:
            return tensor
        return fn(tensor, *args, **kwargs)

    return init


for _name, _fn in list(globals().items()):
    if _name.endswith("_") and not _name.startswith("_") and callable(_fn):
        globals()[_name] = _skippable(_fn)
del _name, _fn
