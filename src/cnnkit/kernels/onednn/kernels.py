"""The oneDNN kernel set: convolution, transposed convolution, pooling and batch normalisation on oneDNN's JIT
primitives, float32.

Layouts: activations are channels-last (an NCHW-shaped view of NHWC memory, what the reference set returns too);
an input in another layout is copied to channels-last once. Weights keep PyTorch's shapes at the boundary; each
primitive is created with weights of format ``any`` (oneDNN picks its blocked layout: plain layouts select slow
implementations) and the user's weights are reordered into it once per parameter update (:mod:`._weights`).
Primitives are cached per geometry and thread count (oneDNN fixes the thread count when a primitive is created).

A geometry that oneDNN cannot run fast (no implementation, or only its ``ref`` one) is remembered and runs on the
reference kernels, direction by direction, with the same array conventions.
"""

from __future__ import annotations

import collections
import functools
import os
import threading

import numpy as np

from .. import _contention
from .. import pool as _pool
from ..backend import KernelSet, reference
from . import _lib
from ._lib import (
    ARG_BIAS,
    ARG_DIFF_BIAS,
    ARG_DIFF_DST,
    ARG_DIFF_SCALE,
    ARG_DIFF_SHIFT,
    ARG_DIFF_SRC,
    ARG_DIFF_WEIGHTS,
    ARG_DST,
    ARG_MEAN,
    ARG_SCALE,
    ARG_SHIFT,
    ARG_SRC,
    ARG_VARIANCE,
    ARG_WEIGHTS,
    ARG_WORKSPACE,
    Dims,
)
from ._primitives import MemoryDesc, Step, Unsupported, create, empty_for, pointer, reorder
from ._weights import DerivedCache

F32 = np.dtype(np.float32)
_UNSUPPORTED = object()


# ------------------------------------------------------------------------------------------------ layouts
def nhwc(x: np.ndarray) -> np.ndarray:
    """The C-contiguous (N, H, W, C) array of an (N, C, H, W) array: a view when its memory is channels-last,
    else a copy."""
    xh = x.transpose(0, 2, 3, 1)
    if xh.flags.c_contiguous and xh.dtype == F32:
        return xh
    return np.ascontiguousarray(xh, dtype=F32)


def contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous and a.dtype == F32 else np.ascontiguousarray(a, dtype=F32)


def _nchw_view(yh: np.ndarray) -> np.ndarray:
    return yh.transpose(0, 3, 1, 2)


# ------------------------------------------------------------------------------------------------ plans
class _ConvPlan:
    """The primitives of one (transposed) convolution geometry, created on first need."""

    def __init__(self, lib, transposed, x_shape, w_shape, stride, padding, dilation, groups, y_shape):
        self.lib, self.transposed = lib, transposed
        n, c, h, w = x_shape
        o = y_shape[1]
        kh, kw = w_shape[2], w_shape[3]
        g = groups
        self.w_shape = w_shape
        self.y_nhwc = (n, y_shape[2], y_shape[3], o)
        self.src = MemoryDesc.with_tag(lib, (n, c, h, w), _lib.TAG_NHWC)
        self.dst = MemoryDesc.with_tag(lib, (n, o, y_shape[2], y_shape[3]), _lib.TAG_NHWC)
        self.bias = MemoryDesc.with_tag(lib, (o,), _lib.TAG_X)
        if g == 1:
            wdims = (o, c, kh, kw)
            user_tag = _lib.TAG_IOHW if transposed else _lib.TAG_OIHW
        else:
            wdims = (g, o // g, c // g, kh, kw)
            user_tag = _lib.TAG_GIOHW if transposed else _lib.TAG_GOIHW
        self.user_weights = MemoryDesc.with_tag(lib, wdims, user_tag)
        self.any_weights = MemoryDesc.with_tag(lib, wdims, _lib.TAG_ANY)
        (pt, pb), (pl, pr) = padding
        self.geometry = (Dims(*stride), Dims(dilation[0] - 1, dilation[1] - 1), Dims(pt, pl), Dims(pb, pr))
        kind = "deconvolution" if transposed else "convolution"
        self._fns = tuple(getattr(lib, f"{kind}_{direction}_primitive_desc_create")
                          for direction in ("forward", "backward_data", "backward_weights"))
        self._fns += (_lib.DECONV_DIRECT if transposed else _lib.CONV_DIRECT,)
        self.steps: dict = {}
        self.lock = threading.Lock()

    def _forward_prim(self, bias: bool, prop: int):
        create_fwd, _, _, alg = self._fns
        return create(self.lib, "convolution forward", create_fwd, prop, alg, self.src.handle,
                      self.any_weights.handle, self.bias.handle if bias else None, self.dst.handle, *self.geometry,
                      None)

    def _hint(self):
        hint = self.steps.get("hint")
        if hint is None:
            hint = self.steps["hint"] = self._forward_prim(False, _lib.FWD_TRAIN)
        return hint

    def forward(self, bias: bool):
        key = ("fwd", bias)
        step = self.steps.get(key)
        if step is None:
            prim = self._forward_prim(bias, _lib.FWD_TRAIN)
            wmd = prim.md(_lib.Q_WEIGHTS)
            args = [(ARG_SRC, self.src), (ARG_WEIGHTS, wmd)] + ([(ARG_BIAS, self.bias)] if bias else [])
            step = self.steps[key] = (Step(self.lib, prim, args + [(ARG_DST, self.dst)]), self._reorder_to(wmd))
        return step

    def inference(self, bias: bool, relu: bool, add: bool = False):
        """Forward for inference (no backward to come), optionally adding the destination's previous content (a
        residual) and then applying ReLU, as post-ops."""
        key = ("inference", bias, relu, add)
        step = self.steps.get(key)
        if step is None:
            create_fwd, _, _, alg = self._fns
            attr = _post_ops(self.lib, add, relu)
            try:
                prim = create(self.lib, "convolution inference", create_fwd, _lib.FWD_INFER, alg, self.src.handle,
                              self.any_weights.handle, self.bias.handle if bias else None, self.dst.handle,
                              *self.geometry, attr)
            finally:
                if attr is not None:
                    self.lib.primitive_attr_destroy(attr)
            wmd = prim.md(_lib.Q_WEIGHTS)
            args = [(ARG_SRC, self.src), (ARG_WEIGHTS, wmd)] + ([(ARG_BIAS, self.bias)] if bias else [])
            step = self.steps[key] = (Step(self.lib, prim, args + [(ARG_DST, self.dst)]), self._reorder_to(wmd))
        return step

    def backward_data(self):
        step = self.steps.get("bwd_data")
        if step is None:
            _, create_bd, _, alg = self._fns
            prim = create(self.lib, "convolution backward data", create_bd, alg, self.src.handle,
                          self.any_weights.handle, self.dst.handle, *self.geometry, self._hint().pd, None)
            wmd = prim.md(_lib.Q_WEIGHTS)
            step = self.steps["bwd_data"] = (
                Step(self.lib, prim, [(ARG_DIFF_DST, self.dst), (ARG_WEIGHTS, wmd), (ARG_DIFF_SRC, self.src)]),
                self._reorder_to(wmd))
        return step

    def backward_weights(self, bias: bool):
        key = ("bwd_weights", bias)
        step = self.steps.get(key)
        if step is None:
            _, _, create_bw, alg = self._fns
            prim = create(self.lib, "convolution backward weights", create_bw, alg, self.src.handle,
                          self.any_weights.handle, self.bias.handle if bias else None, self.dst.handle,
                          *self.geometry, self._hint().pd, None)
            wmd = prim.md(_lib.Q_DIFF_WEIGHTS)
            args = [(ARG_SRC, self.src), (ARG_DIFF_DST, self.dst), (ARG_DIFF_WEIGHTS, wmd)]
            if bias:
                args.append((ARG_DIFF_BIAS, self.bias))
            back = None if wmd == self.user_weights else reorder(self.lib, wmd, self.user_weights)
            step = self.steps[key] = (Step(self.lib, prim, args), wmd, back)
        return step

    def _reorder_to(self, wmd: MemoryDesc):
        """(step, md) turning user weights into layout ``wmd``, or None when they already are in it."""
        if wmd == self.user_weights:
            return None
        return reorder(self.lib, self.user_weights, wmd), wmd


def _post_ops(lib, add: bool, relu: bool):
    """A primitive attribute with the post-ops ``dst += previous dst`` (add) then ReLU, or None for neither (the
    caller destroys it after creating the primitive)."""
    if not (add or relu):
        return None
    import ctypes

    attr, ops = _lib.vp(), _lib.vp()
    lib.primitive_attr_create(ctypes.byref(attr))
    lib.post_ops_create(ctypes.byref(ops))
    try:
        if add:
            lib.post_ops_append_sum(ops, 1.0, 0, 0)  # data type undef: the destination's
        if relu:
            lib.post_ops_append_eltwise(ops, _lib.ELTWISE_RELU, 0.0, 0.0)
        lib.primitive_attr_set_post_ops(attr, ops)
    finally:
        lib.post_ops_destroy(ops)
    return attr


class _PoolPlan:
    def __init__(self, lib, alg, x_shape, y_shape, kernel, stride, pad_l, pad_r, dilation, training):
        self.lib = lib
        n, c, h, w = x_shape
        self.y_nhwc = (n, y_shape[2], y_shape[3], c)
        self.src = MemoryDesc.with_tag(lib, (n, c, h, w), _lib.TAG_NHWC)
        self.dst = MemoryDesc.with_tag(lib, (n, c, y_shape[2], y_shape[3]), _lib.TAG_NHWC)
        self.alg = alg
        self.geometry = (Dims(*stride), Dims(*kernel), Dims(dilation[0] - 1, dilation[1] - 1), Dims(*pad_l),
                         Dims(*pad_r))
        prop = _lib.FWD_TRAIN if training else _lib.FWD_INFER
        self.prim = create(lib, "pooling forward", lib.pooling_forward_primitive_desc_create, prop, alg,
                           self.src.handle, self.dst.handle, *self.geometry, None)
        self.workspace = None
        args = [(ARG_SRC, self.src), (ARG_DST, self.dst)]
        if training and alg == _lib.POOL_MAX:
            self.workspace = self.prim.md(_lib.Q_WORKSPACE)
            args.append((ARG_WORKSPACE, self.workspace))
        self.forward = Step(lib, self.prim, args)
        self._backward = None

    def backward(self):
        if self._backward is None:
            prim = create(self.lib, "pooling backward", self.lib.pooling_backward_primitive_desc_create, self.alg,
                          self.src.handle, self.dst.handle, *self.geometry, self.prim.pd, None)
            args = [(ARG_DIFF_DST, self.dst), (ARG_DIFF_SRC, self.src)]
            if self.workspace is not None:
                args.append((ARG_WORKSPACE, self.workspace))
            self._backward = Step(self.lib, prim, args)
        return self._backward


class _BatchNormPlan:
    def __init__(self, lib, shape, tag, flags, training, eps):
        self.lib, self.flags, self.training, self.eps = lib, flags, training, eps
        self.data = MemoryDesc.with_tag(lib, shape, tag)
        self.stat = MemoryDesc.with_tag(lib, (shape[1],), _lib.TAG_X)
        prop = _lib.FWD_TRAIN if training else _lib.FWD_INFER
        if not training:
            flags |= _lib.BN_GLOBAL_STATS
        self.prim = create(lib, "batch norm forward", lib.batch_normalization_forward_primitive_desc_create, prop,
                           self.data.handle, self.data.handle, eps, flags, None)
        self.all_flags = flags
        args = [(ARG_SRC, self.data), (ARG_MEAN, self.stat), (ARG_VARIANCE, self.stat)]
        if flags & _lib.BN_SCALE:
            args.append((ARG_SCALE, self.stat))
        if flags & _lib.BN_SHIFT:
            args.append((ARG_SHIFT, self.stat))
        self.forward = Step(lib, self.prim, args + [(ARG_DST, self.data)])
        self._backward = None

    def backward(self):
        if self._backward is None:
            flags = self.all_flags
            prop = _lib.BWD if flags & (_lib.BN_SCALE | _lib.BN_SHIFT) else _lib.BWD_DATA
            prim = create(self.lib, "batch norm backward", self.lib.batch_normalization_backward_primitive_desc_create,
                          prop, self.data.handle, self.data.handle, self.data.handle, self.eps, flags, self.prim.pd,
                          None)
            args = [(ARG_SRC, self.data), (ARG_MEAN, self.stat), (ARG_VARIANCE, self.stat),
                    (ARG_DIFF_DST, self.data)]
            if flags & _lib.BN_SCALE:
                args.append((ARG_SCALE, self.stat))
            args.append((ARG_DIFF_SRC, self.data))
            if flags & _lib.BN_SCALE:
                args.append((ARG_DIFF_SCALE, self.stat))
            if flags & _lib.BN_SHIFT:
                args.append((ARG_DIFF_SHIFT, self.stat))
            self._backward = Step(self.lib, prim, args)
        return self._backward


# ------------------------------------------------------------------------------------------------ saved state
class _PoolSaved:
    __slots__ = ("plan", "workspace", "reference")

    def __init__(self, plan, workspace, ref=None):
        self.plan, self.workspace, self.reference = plan, workspace, ref


class _BatchNormSaved:
    __slots__ = ("plan", "x", "layout", "shape", "mean", "var", "weight", "reference", "threads")


def _single_threaded_blas() -> int:
    """With oneDNN doing the heavy work in its OpenMP pool, BLAS is left the small fully-connected products, which
    one thread runs best; a second pool of spinning BLAS threads would fight OpenMP's for the cores (and, beside a
    busy process, a 2-thread OpenBLAS call on a tiny product took 10x the time of a 1-thread one). Returns cnnkit's
    thread setting."""
    from .. import _parallel

    blas = _parallel._get_blas()
    if blas.set_global is not None:
        blas.set_global(1)
    return _parallel._num_threads


@functools.lru_cache(maxsize=1024)
def _has_empty_windows(h, w, kernel_size, stride, padding, dilation, ceil_mode) -> bool:
    """Whether some max-pool window lies wholly in the padding (PyTorch gives -inf there; those run on the
    reference kernels). Cached: computing it costs more than a small pooling."""
    return _pool.max_pool2d_empty_windows(h, w, kernel_size, stride, padding, dilation, ceil_mode) is not None


def plan_shape(plan) -> tuple:
    """(C, H, W) of a convolution plan's output."""
    n, h, w, c = plan.y_nhwc
    return (c, h, w)


def _conv_out(size, k, s, p0, p1, d):
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


# ------------------------------------------------------------------------------------------------ the kernel set
class OneDNNKernels(KernelSet):
    """Kernels on oneDNN's primitives (float32); everything else runs on the reference set."""

    name = "onednn"
    OPS = frozenset(("conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm"))

    def __init__(self):
        self._plans: dict = {}
        self._fast: dict = {}  # the same plans keyed by the call's own arguments (no arithmetic on a hit)
        self._plans_lock = threading.Lock()
        self.weights = DerivedCache()
        self._threads = None  # the count the OpenMP runtime was last told
        self._setting = None  # cnnkit's setting (None: read it on first use)
        self.fallbacks: collections.Counter = collections.Counter()  # kernel name -> calls run on the reference

    def _ref(self, kernel: str):
        """The reference set's ``kernel`` (counted: tests check what ran where)."""
        self.fallbacks[kernel] += 1
        return getattr(reference(), kernel)

    # ---------------------------------------------------------------------------------------------- runtime
    @property
    def lib(self):
        return _lib.get()

    def available(self) -> bool:
        return _lib.get() is not None

    def describe(self) -> dict:
        lib = _lib.get()
        if lib is None:
            return {"available": False, "error": _lib.error()}
        return {"available": True, **lib.describe(), "threads": self.threads()}

    def threads(self, reduction: bool = False) -> int:
        """The OpenMP thread count for the next primitive call (part of every cache key: oneDNN fixes the count
        when it creates a primitive). It follows cnnkit's one setting (``set_num_threads``, ``CNNKIT_NUM_THREADS``,
        the CPUs) less the cores other processes keep busy (:mod:`.._contention`), so a region never waits for a
        thread that has no core; the OpenMP runtime is told whenever the count changes.

        ``reduction``: the primitive sums over the batch across threads (convolution backward-weights, batch
        norm), so its float32 result depends on the thread count: it always gets the setting itself, never the
        load-adapted count, and a seed gives the same weights however busy the machine is (forward and
        backward-data results do not depend on the count: each output element is summed by one thread)."""
        lib = _lib.get()
        if lib is None or lib.omp_set_num_threads is None:
            return 1
        if self._setting is None:
            self._setting = _single_threaded_blas()
        wanted = self._setting
        if wanted > 1 and not reduction and _contention.enabled():
            wanted = _contention.free_cores(wanted)
        self._use_threads(wanted)
        return wanted

    def _use_threads(self, n: int) -> None:
        """Tell the OpenMP runtime ``n`` threads (before running a primitive created for ``n``)."""
        if n != self._threads:
            _lib.get().omp_set_num_threads(n)
            self._threads = n

    def set_threads(self, n: int) -> None:
        if _lib._library is not None:
            _single_threaded_blas()
        self._setting = int(n)

    def supports(self, op: str, dtype: np.dtype, **attrs) -> bool:
        if dtype != F32 or op not in self.OPS:
            return False
        if op == "max_pool2d" and attrs.get("return_indices"):
            return False  # PyTorch's flat indices are not what oneDNN's workspace holds
        if op == "avg_pool2d" and attrs.get("divisor_override") is not None:
            return False
        if op == "batch_norm":
            return self.fast_batch_norm()
        return True

    def fast_batch_norm(self) -> bool:
        """Whether oneDNN's batch norm beats the reference kernels on this CPU. Its AVX-512 kernels do (2.5x on
        a Zen 4 host: 6.2 ms forward+backward on (128, 64, 32, 32) against 15.6); with AVX2 only, oneDNN 3.2's
        channels-last kernel took 27 ms for the forward pass where the reference's compiled row kernels take 7 ms
        (one thread each), so batch norm stays on the reference there. ``CNNKIT_ONEDNN_BATCH_NORM=1``/``0``
        overrides."""
        override = os.environ.get("CNNKIT_ONEDNN_BATCH_NORM")
        if override in ("0", "1"):
            return override == "1"
        lib = _lib.get()
        return lib is not None and lib.isa.startswith(("avx512", "avx10"))

    def _plan(self, key, make):
        plan = self._plans.get(key)
        if plan is None:
            try:
                plan = make()
            except Unsupported:
                plan = _UNSUPPORTED
            with self._plans_lock:
                self._plans[key] = plan
        return None if plan is _UNSUPPORTED else plan

    def _step(self, plan, getter, *args):
        """``getter(*args)`` of a plan, or None when oneDNN cannot run that direction fast (remembered)."""
        try:
            return getter(*args)
        except Unsupported:
            return None

    # ---------------------------------------------------------------------------------------------- convolution
    def _conv_plan(self, transposed, x_shape, w_shape, stride, padding, dilation, groups, output_padding=(0, 0),
                   reduction=False):
        threads = self.threads(reduction)
        fast = (transposed, x_shape, w_shape, stride, padding, dilation, groups, output_padding, threads)
        plan = self._fast.get(fast, self)
        if plan is self:
            plan = self._fast[fast] = self._conv_plan_for(transposed, x_shape, w_shape, stride, padding, dilation,
                                                          groups, output_padding, threads)
        return plan

    def _conv_plan_for(self, transposed, x_shape, w_shape, stride, padding, dilation, groups, output_padding,
                       threads):
        if transposed:
            # oneDNN describes a transposed convolution by the convolution it is the adjoint of; output_padding
            # rows fall out of that convolution's floor division (oneDNN refuses the geometry when they cannot)
            ph, pw = padding
            pads = ((ph, ph), (pw, pw))
            o = w_shape[1] * groups
            oh = (x_shape[2] - 1) * stride[0] - 2 * ph + dilation[0] * (w_shape[2] - 1) + output_padding[0] + 1
            ow = (x_shape[3] - 1) * stride[1] - 2 * pw + dilation[1] * (w_shape[3] - 1) + output_padding[1] + 1
        else:
            pads = padding
            o = w_shape[0]
            oh = _conv_out(x_shape[2], w_shape[2], stride[0], *pads[0], dilation[0])
            ow = _conv_out(x_shape[3], w_shape[3], stride[1], *pads[1], dilation[1])
        y_shape = (x_shape[0], o, oh, ow)
        key = ("conv", transposed, tuple(x_shape), tuple(w_shape), stride, pads, dilation, groups, y_shape, threads)
        return self._plan(key, lambda: _ConvPlan(self.lib, transposed, x_shape, w_shape, stride, pads, dilation,
                                                 groups, y_shape))

    def _weights_in(self, w: np.ndarray, conversion, tag):
        """``w`` in a primitive's layout (cached per parameter update), or ``w`` itself when it already is."""
        w = contiguous(w)
        if conversion is None:
            return w
        step, md = conversion

        def build():
            out = empty_for(md)
            step(pointer(w), pointer(out))
            return out

        return self.weights.get((w,), (tag, id(md)), build)

    def _conv_forward(self, transposed, x, w, b, stride, padding, dilation, groups, output_padding=(0, 0)):
        plan = self._conv_plan(transposed, x.shape, w.shape, stride, padding, dilation, groups, output_padding)
        step = None if plan is None else self._step(plan, plan.forward, b is not None)
        if step is None:
            return None
        run, conversion = step
        xh = nhwc(x)
        wt = self._weights_in(w, conversion, "fwd")
        y = np.empty(plan.y_nhwc, F32)
        if b is None:
            run(pointer(xh), pointer(wt), pointer(y))
        else:
            run(pointer(xh), pointer(wt), pointer(contiguous(b.reshape(-1))), pointer(y))
        return _nchw_view(y)

    def _conv_backward(self, transposed, grad, x, w, stride, padding, dilation, groups, need_input, need_weight,
                       need_bias, x_shape, w_shape, output_padding=(0, 0)):
        plan = self._conv_plan(transposed, x_shape, w_shape, stride, padding, dilation, groups, output_padding)
        if plan is None:
            return None
        dx = dw = db = None
        gh = None
        if need_input:
            step = self._step(plan, plan.backward_data)
            if step is None:
                return None
            run, conversion = step
            gh = nhwc(grad)
            wt = self._weights_in(w, conversion, "bwd_data")
            n, c, h, wd = x_shape
            dxh = np.empty((n, h, wd, c), F32)
            run(pointer(gh), pointer(wt), pointer(dxh))
            dx = _nchw_view(dxh)
        if need_weight or need_bias:
            if not need_weight:  # only the bias: a sum over the batch and the pixels
                gh = nhwc(grad) if gh is None else gh
                return dx, None, gh.reshape(-1, gh.shape[-1]).sum(axis=0, dtype=np.float64).astype(F32)
            plan = self._conv_plan(transposed, x_shape, w_shape, stride, padding, dilation, groups, output_padding,
                                   reduction=True)
            step = None if plan is None else self._step(plan, plan.backward_weights, need_bias)
            if step is None:
                return None
            run, wmd, back = step
            gh = nhwc(grad) if gh is None else gh
            xh = nhwc(x)
            dwb = empty_for(wmd) if back is not None else np.empty(w_shape, F32)
            if need_bias:
                db = np.empty(gh.shape[-1], F32)
                run(pointer(xh), pointer(gh), pointer(dwb), pointer(db))
            else:
                run(pointer(xh), pointer(gh), pointer(dwb))
            if back is not None:
                dw = np.empty(w_shape, F32)
                back(pointer(dwb), pointer(dw))
            else:
                dw = dwb
        return dx, dw, db

    def conv2d_forward(self, x, w, b, stride, padding, dilation, groups):
        y = self._conv_forward(False, x, w, b, stride, padding, dilation, groups)
        return self._ref("conv2d_forward")(x, w, b, stride, padding, dilation, groups) if y is None else y

    def conv2d_backward(self, grad, x, w, stride, padding, dilation, groups, need_input, need_weight, need_bias,
                        x_shape, w_shape):
        out = self._conv_backward(False, grad, x, w, stride, padding, dilation, groups, need_input, need_weight,
                                  need_bias, x_shape, w_shape)
        if out is None:
            return self._ref("conv2d_backward")(grad, x, w, stride, padding, dilation, groups, need_input, need_weight,
                                               need_bias, x_shape, w_shape)
        return out

    def conv_transpose2d_forward(self, x, w, b, stride, padding, output_padding, dilation, groups):
        y = self._conv_forward(True, x, w, b, stride, padding, dilation, groups, output_padding)
        if y is None:
            return self._ref("conv_transpose2d_forward")(x, w, b, stride, padding, output_padding, dilation, groups)
        return y

    def conv_transpose2d_backward(self, grad, x, w, stride, padding, output_padding, dilation, groups, need_input,
                                  need_weight, need_bias, x_shape, w_shape):
        out = self._conv_backward(True, grad, x, w, stride, padding, dilation, groups, need_input, need_weight,
                                  need_bias, x_shape, w_shape, output_padding)
        if out is None:
            return self._ref("conv_transpose2d_backward")(grad, x, w, stride, padding, output_padding, dilation, groups,
                                                         need_input, need_weight, need_bias, x_shape, w_shape)
        return out

    def conv2d_inference(self, x, w, b, stride, padding, dilation, groups, batch_norm=None, relu=False, add=None):
        """y = relu?(conv2d(x, w) + b [+ add]) for inference, with an optional batch norm (inference statistics)
        folded into the weights: ``batch_norm`` = (weight, bias, running_mean, running_var, eps), arrays or None;
        ``add`` an array of the output's shape (a residual). One primitive, no intermediate array. Returns None
        when oneDNN cannot run it (the caller computes it unfused).
        The folded weights are derived once per parameter update (see :mod:`._weights`)."""
        if x.dtype != F32 or w.dtype != F32:
            return None
        plan = self._conv_plan(False, x.shape, w.shape, stride, padding, dilation, groups)
        has_bias = b is not None or batch_norm is not None
        if plan is None or (add is not None and add.shape != (x.shape[0],) + plan_shape(plan)):
            return None
        step = self._step(plan, plan.inference, has_bias, relu, add is not None)
        if step is None:
            return None
        run, conversion = step
        if batch_norm is None:
            wt = self._weights_in(w, conversion, ("inference", relu, add is not None))
            bias = None if b is None else contiguous(b.reshape(-1))
        else:
            gamma, beta, mean, var, eps = batch_norm
            sources = (contiguous(w), b, gamma, beta, mean, var)

            def fold():
                scale = 1.0 / np.sqrt(var.reshape(-1).astype(np.float64) + eps)
                if gamma is not None:
                    scale = scale * gamma.reshape(-1)
                shift = -mean.reshape(-1).astype(np.float64) * scale
                if b is not None:
                    shift = shift + b.reshape(-1) * scale
                if beta is not None:
                    shift = shift + beta.reshape(-1)
                folded = np.ascontiguousarray(sources[0] * scale.astype(F32)[:, None, None, None])
                if conversion is not None:
                    out = empty_for(conversion[1])
                    conversion[0](pointer(folded), pointer(out))
                    folded = out
                return folded, np.ascontiguousarray(shift, dtype=F32)

            wt, bias = self.weights.get(sources, ("fold", float(eps), relu, add is not None), fold)
        xh = nhwc(x)
        y = np.empty(plan.y_nhwc, F32)
        if add is not None:
            np.copyto(y, add.transpose(0, 2, 3, 1), casting="same_kind")
        if bias is None:
            run(pointer(xh), pointer(wt), pointer(y))
        else:
            run(pointer(xh), pointer(wt), pointer(bias), pointer(y))
        return _nchw_view(y)

    # ---------------------------------------------------------------------------------------------- pooling
    def _pool_plan(self, alg, x_shape, kernel_size, stride, padding, dilation, ceil_mode, training):
        fast = ("pool", alg, x_shape, kernel_size, stride, padding, dilation, ceil_mode, training, self.threads())
        found = self._fast.get(fast)
        if found is None:
            found = self._fast[fast] = self._pool_plan_for(alg, x_shape, kernel_size, stride, padding, dilation,
                                                           ceil_mode, training)
        return found

    def _pool_plan_for(self, alg, x_shape, kernel_size, stride, padding, dilation, ceil_mode, training):
        n, c, h, w = x_shape
        oh, ow = _pool.pool_output_shape(h, w, kernel_size, stride, padding, dilation, ceil_mode)
        # the far-side padding that makes oneDNN's floor formula give PyTorch's (ceil-mode) output size
        pad_r = tuple((o - 1) * s + d * (k - 1) + 1 - size - p
                      for o, s, d, k, size, p in zip((oh, ow), stride, dilation, kernel_size, (h, w), padding,
                                                     strict=True))
        pad_r = tuple(max(p, q) for p, q in zip(padding, pad_r, strict=True))
        key = ("pool", alg, tuple(x_shape), kernel_size, stride, padding, pad_r, dilation, training, self.threads())
        return self._plan(key, lambda: _PoolPlan(self.lib, alg, x_shape, (n, c, oh, ow), kernel_size, stride,
                                                 padding, pad_r, dilation, training)), pad_r

    def max_pool2d_forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, need_backward,
                           return_indices):
        plan = None
        if not return_indices and not _has_empty_windows(*x.shape[2:], kernel_size, stride, padding, dilation,
                                                          ceil_mode):
            plan, _ = self._pool_plan(_lib.POOL_MAX, x.shape, kernel_size, stride, padding, dilation, ceil_mode,
                                      need_backward)
        if plan is None:
            y, saved, idx = self._ref("max_pool2d_forward")(x, kernel_size, stride, padding, dilation, ceil_mode,
                                                           need_backward, return_indices)
            return y, (_PoolSaved(None, None, saved) if need_backward else None), idx
        xh = nhwc(x)
        y = np.empty(plan.y_nhwc, F32)
        if plan.workspace is not None:
            ws = empty_for(plan.workspace, np.uint8)
            plan.forward(pointer(xh), pointer(y), pointer(ws))
        else:
            ws = None
            plan.forward(pointer(xh), pointer(y))
        return _nchw_view(y), (_PoolSaved(plan, ws) if need_backward else None), None

    def max_pool2d_backward(self, grad, saved, input_shape):
        if saved.reference is not None:
            return self._ref("max_pool2d_backward")(grad, saved.reference, input_shape)
        step = self._step(saved.plan, saved.plan.backward)
        if step is None:  # pragma: no cover - oneDNN has a backward for every forward it creates
            raise RuntimeError("max_pool2d: oneDNN created a forward pass without its backward")
        gh = nhwc(grad)
        n, c, h, w = input_shape
        dxh = np.empty((n, h, w, c), F32)
        step(pointer(gh), pointer(dxh), pointer(saved.workspace))
        return _nchw_view(dxh)

    def _avg_plan(self, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                  training):
        if divisor_override is not None:
            return None
        if count_include_pad and any(padding):
            alg = _lib.POOL_AVG_INCLUDE
        else:
            alg = _lib.POOL_AVG_EXCLUDE  # without padding, PyTorch's divisor is the window clipped to the input
        plan, pad_r = self._pool_plan(alg, x_shape, kernel_size, stride, padding, (1, 1), ceil_mode, training)
        if alg == _lib.POOL_AVG_INCLUDE and pad_r != tuple(padding):
            return None  # ceil mode adds padding that PyTorch leaves out of the divisor
        return plan

    def avg_pool2d_forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        plan = self._avg_plan(x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                              True)
        if plan is None:
            return self._ref("avg_pool2d_forward")(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                                  divisor_override)
        xh = nhwc(x)
        y = np.empty(plan.y_nhwc, F32)
        plan.forward(pointer(xh), pointer(y))
        return _nchw_view(y)

    def avg_pool2d_backward(self, grad, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                            divisor_override):
        plan = self._avg_plan(tuple(input_shape), kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override, True)
        step = None if plan is None else self._step(plan, plan.backward)
        if step is None:
            return self._ref("avg_pool2d_backward")(grad, input_shape, kernel_size, stride, padding, ceil_mode,
                                                   count_include_pad, divisor_override)
        gh = nhwc(grad)
        n, c, h, w = input_shape
        dxh = np.empty((n, h, w, c), F32)
        step(pointer(gh), pointer(dxh))
        return _nchw_view(dxh)

    # ---------------------------------------------------------------------------------------------- batch norm
    def batch_norm_forward(self, x, running_mean, running_var, weight, bias, training, momentum, eps):
        layout = None
        if x.ndim == 4:
            xh = x.transpose(0, 2, 3, 1)
            if xh.flags.c_contiguous:
                layout, data, tag = "nhwc", xh, _lib.TAG_NHWC
            elif not x.flags.c_contiguous:
                layout, data, tag = "nhwc", np.ascontiguousarray(xh), _lib.TAG_NHWC
        # NCHW memory (and 2-D input) would take oneDNN's generic ncsp_bnorm, slower than the reference kernels
        plan = None
        if layout is not None and (training or running_mean is not None):
            flags = (_lib.BN_SCALE if weight is not None else 0) | (_lib.BN_SHIFT if bias is not None else 0)
            threads = self.threads(reduction=True)
            key = ("bn", x.shape, tag, flags, bool(training), float(eps), threads)
            plan = self._plan(key, lambda: _BatchNormPlan(self.lib, x.shape, tag, flags, training, eps))
        if plan is None:
            y, saved = self._ref("batch_norm_forward")(x, running_mean, running_var, weight, bias, training, momentum,
                                                      eps)
            s = _BatchNormSaved()
            s.reference = saved
            return y, s
        data = data if data.dtype == F32 else data.astype(F32)
        c = x.shape[1]
        out = np.empty(data.shape, F32)
        if training:
            mean, var = np.empty(c, F32), np.empty(c, F32)
        else:
            mean, var = contiguous(running_mean.reshape(-1)), contiguous(running_var.reshape(-1))
        addresses = [pointer(data), pointer(mean), pointer(var)]
        w = None if weight is None else contiguous(weight.reshape(-1))
        if w is not None:
            addresses.append(pointer(w))
        if bias is not None:
            addresses.append(pointer(contiguous(bias.reshape(-1))))
        addresses.append(pointer(out))
        plan.forward(*addresses)
        if training and running_mean is not None:
            n = x.size // c
            running_mean *= 1.0 - momentum
            running_mean += (momentum * mean).reshape(running_mean.shape)
            running_var *= 1.0 - momentum
            running_var += (momentum * n / (n - 1) * var).reshape(running_var.shape)
        s = _BatchNormSaved()
        s.reference, s.plan, s.x, s.layout, s.shape, s.mean, s.var, s.weight = None, plan, data, layout, x.shape, \
            mean.copy() if not training else mean, var.copy() if not training else var, w
        s.threads = threads
        y = out.transpose(0, 3, 1, 2) if layout == "nhwc" else out
        return y, s

    def batch_norm_backward(self, grad, saved, need_input, need_weight, need_bias):
        s = saved
        if s.reference is not None:
            return self._ref("batch_norm_backward")(grad, s.reference, need_input, need_weight, need_bias)
        step = s.plan.backward()
        self._use_threads(s.threads)
        if s.layout == "nhwc":
            g = nhwc(grad)
        else:
            g = contiguous(grad)
        c = s.shape[1]
        dx = np.empty(s.x.shape, F32)
        addresses = [pointer(s.x), pointer(s.mean), pointer(s.var), pointer(g)]
        if s.weight is not None:
            addresses.append(pointer(s.weight))
        addresses.append(pointer(dx))
        dw = db = None
        if s.plan.all_flags & _lib.BN_SCALE:
            dw = np.empty(c, F32)
            addresses.append(pointer(dw))
        if s.plan.all_flags & _lib.BN_SHIFT:
            db = np.empty(c, F32)
            addresses.append(pointer(db))
        step(*addresses)
        if s.layout == "nhwc":
            dx = dx.transpose(0, 3, 1, 2)
        return (dx if need_input else None), (dw if need_weight else None), (db if need_bias else None)
