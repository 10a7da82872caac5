"""Loading oneDNN's C library (libdnnl.so.3, API v3) through ctypes, its OpenMP runtime, and the C signatures.

Where the library comes from, in order:

1. ``CNNKIT_ONEDNN_LIBRARY``: a path to a libdnnl.so.3 (set it to an empty string or ``0`` to disable the backend);
2. the files of an installed oneDNN wheel (``onednn-cpu-gomp``: its data folder lands in ``<prefix>/lib``);
3. the system's loader path (``libdnnl.so.3``).

The wheel's library is built against GNU OpenMP (``libgomp.so.1``). Where the system has no libgomp (slim images),
the OpenMP runtime comes from the ``cmeel-libomp`` wheel: LLVM's libomp, which implements GNU OpenMP's interface.
The loader needs an object whose soname is ``libgomp.so.1``; libomp's is ``libomp.so``, so a 400-byte forwarding
object (no code: a soname and one dependency, libomp by its path) is written to a private temporary folder, loaded,
and removed. Nothing is written anywhere else.

Everything here happens on first use of the backend, never at ``import cnnkit``.
"""

from __future__ import annotations

import ctypes as C
import os
import struct
import sys
import sysconfig
import tempfile
import threading

LIBRARY_VARIABLE = "CNNKIT_ONEDNN_LIBRARY"
WHEELS = ("onednn-cpu-gomp", "onednn-cpu-iomp", "onednn-cpu-tbb", "onednn")
OMP_WHEEL = "cmeel-libomp"
# Idle OpenMP threads spin before they sleep: GNU OpenMP for 300,000 iterations, LLVM's for 200 ms. Spinning
# threads take the cores from the BLAS and worker threads that run between two oneDNN calls (and from other
# processes). These defaults keep the spin to tens of microseconds, enough to bridge back-to-back primitives; an
# explicit setting in the environment wins.
SPIN_DEFAULTS = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}

# ------------------------------------------------------------------------------------------- enum values (v3.x)
F32, U8 = 3, 6
TAG_ANY, TAG_X, TAG_AB, TAG_ABC, TAG_ABCD = 1, 2, 3, 4, 5
TAG_NCHW, TAG_OIHW, TAG_GOIHW = 5, 5, 6
TAG_NHWC = 22  # acdb
TAG_IOHW = 25  # bacd
TAG_GIOHW = 32  # acbde
FWD_TRAIN, FWD_INFER, BWD, BWD_DATA, BWD_WEIGHTS = 64, 96, 128, 160, 192
CONV_DIRECT, DECONV_DIRECT = 1, 10
ELTWISE_RELU = 32
POOL_MAX, POOL_AVG_INCLUDE, POOL_AVG_EXCLUDE = 511, 767, 1023
ARG_SRC, ARG_DST, ARG_WEIGHTS, ARG_BIAS = 1, 17, 33, 41
ARG_DIFF_SRC, ARG_DIFF_DST, ARG_DIFF_WEIGHTS, ARG_DIFF_BIAS = 129, 145, 161, 169
ARG_WORKSPACE, ARG_MEAN, ARG_VARIANCE, ARG_SCALE, ARG_SHIFT = 64, 49, 50, 51, 52
ARG_DIFF_SCALE, ARG_DIFF_SHIFT = 255, 256
ARG_FROM, ARG_TO = 1, 17
Q_IMPL = 8
Q_SRC, Q_DIFF_SRC, Q_WEIGHTS, Q_DIFF_WEIGHTS, Q_DST, Q_DIFF_DST, Q_WORKSPACE = 129, 130, 131, 132, 133, 134, 135
BN_GLOBAL_STATS, BN_SCALE, BN_SHIFT = 1, 2, 4
ENGINE_CPU = 1
RUNTIMES = {1: "sequential", 2: "OpenMP", 4: "TBB", 8: "threadpool"}
ISA_NAMES = {0: "default", 1: "sse41", 3: "avx", 7: "avx2", 15: "avx2_vnni", 31: "avx2_vnni_2", 39: "avx512_core",
             103: "avx512_core_vnni", 231: "avx512_core_bf16", 487: "avx10_1_512", 999: "avx512_core_amx",
             2023: "avx512_core_amx_fp16"}
STATUS = {1: "out of memory", 2: "invalid arguments", 3: "unimplemented", 4: "last implementation reached",
          5: "runtime error", 6: "not required"}
MAX_NDIMS = 12

Dims = C.c_int64 * MAX_NDIMS  # dnnl_dims_t
vp = C.c_void_p


class ExecArg(C.Structure):  # dnnl_exec_arg_t {int arg; dnnl_memory_t memory;}: 16 bytes with padding
    _fields_ = [("arg", C.c_int), ("memory", C.c_void_p)]


class Version(C.Structure):  # dnnl_version_t
    _fields_ = [("major", C.c_int), ("minor", C.c_int), ("patch", C.c_int), ("hash", C.c_char_p),
                ("cpu_runtime", C.c_uint), ("gpu_runtime", C.c_uint)]


class OneDNNError(RuntimeError):
    """A oneDNN call failed (the status names why)."""


# ------------------------------------------------------------------------------------------- locating the files
def _wheel_file(distribution: str, suffix: str) -> str | None:
    """The installed file of ``distribution`` whose path ends with ``suffix``, or None."""
    try:
        from importlib import metadata

        dist = metadata.distribution(distribution)
    except Exception:  # noqa: BLE001 - not installed, or unreadable metadata
        return None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(suffix):
            path = os.path.abspath(str(dist.locate_file(f)))
            if os.path.exists(path):
                return path
    return None


def library_candidates() -> list[str]:
    """Where libdnnl is looked for, in order (see the module docstring)."""
    override = os.environ.get(LIBRARY_VARIABLE)
    if override is not None:
        return [override] if override not in ("", "0") else []
    found = []
    for wheel in WHEELS:
        path = _wheel_file(wheel, "lib/libdnnl.so.3")
        if path and path not in found:
            found.append(path)
    for base in (sys.prefix, sysconfig.get_config_var("userbase") or ""):
        path = os.path.join(base, "lib", "libdnnl.so.3")
        if base and os.path.exists(path) and path not in found:
            found.append(path)
    found.append("libdnnl.so.3")
    return found


def _gomp_forwarder(target: str) -> bytes:
    """A minimal ELF64 x86-64 shared object with soname ``libgomp.so.1`` and one dependency, ``target`` (a path):
    no code, no symbols. Loaded first, it answers libdnnl's dependency on libgomp.so.1, and libdnnl's OpenMP calls
    resolve in ``target`` (a runtime with GNU OpenMP's interface). It defines no symbol versions, which the loader
    accepts for a needed library (it then looks the versioned symbols up by name and version wherever they are)."""
    strtab = b"\0libgomp.so.1\0" + target.encode() + b"\0"
    soname, needed = 1, 14
    header, phentsize = 64, 56
    off_str = header + 2 * phentsize
    off_sym = (off_str + len(strtab) + 7) & ~7
    off_hash = off_sym + 24  # one (null) symbol
    off_dyn = (off_hash + 16 + 7) & ~7
    dynamic = [(1, needed), (14, soname), (5, off_str), (6, off_sym), (10, len(strtab)), (11, 24), (4, off_hash),
               (0, 0)]  # DT_NEEDED, DT_SONAME, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_HASH, DT_NULL
    size = off_dyn + 16 * len(dynamic)
    buf = bytearray(size)
    buf[0:64] = struct.pack("<4s5B7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 3, 62, 1, 0, header, 0, 0, header,
                            phentsize, 2, 64, 0, 0)  # ELFCLASS64, little-endian, ET_DYN, EM_X86_64
    buf[64:120] = struct.pack("<IIQQQQQQ", 1, 6, 0, 0, 0, size, size, 0x1000)  # PT_LOAD, read+write
    buf[120:176] = struct.pack("<IIQQQQQQ", 2, 6, off_dyn, off_dyn, off_dyn, 16 * len(dynamic), 16 * len(dynamic), 8)
    buf[off_str:off_str + len(strtab)] = strtab
    buf[off_hash:off_hash + 16] = struct.pack("<IIII", 1, 1, 0, 0)
    buf[off_dyn:] = b"".join(struct.pack("<qQ", tag, value) for tag, value in dynamic)
    return bytes(buf)


class Runtime:
    """The loaded library and what was learnt while loading it."""

    def __init__(self, lib: C.CDLL, path: str, openmp: str, omp: C.CDLL | None):
        self.lib, self.path, self.openmp, self.omp = lib, path, openmp, omp


def _load_openmp() -> tuple[str, C.CDLL | None]:
    """Make ``libgomp.so.1`` loadable: the system's (or one already in the process), else LLVM's libomp from the
    cmeel-libomp wheel behind a forwarding object. Returns a description and a handle for omp_* calls."""
    try:
        return "libgomp", C.CDLL("libgomp.so.1")
    except OSError:
        pass
    libomp = _wheel_file(OMP_WHEEL, "lib/libomp.so")
    if libomp is None:
        return "none", None
    with tempfile.TemporaryDirectory(prefix="cnnkit-omp-") as folder:
        stub = os.path.join(folder, "libgomp.so.1")
        with open(stub, "wb") as f:
            f.write(_gomp_forwarder(libomp))
        handle = C.CDLL(stub)  # stays loaded after the file is removed
    return f"libomp ({OMP_WHEEL})", handle


def load() -> Runtime:
    """Load libdnnl (raises OSError with every attempt's reason when none works)."""
    if sys.platform != "linux" or os.uname().machine not in ("x86_64", "AMD64"):
        raise OSError(f"the oneDNN backend is built for Linux x86-64 (this is {sys.platform} "
                      f"{os.uname().machine if hasattr(os, 'uname') else ''})")
    candidates = library_candidates()
    if not candidates:
        raise OSError(f"{LIBRARY_VARIABLE} disables the oneDNN backend")
    for name, value in SPIN_DEFAULTS.items():  # read by the runtime when it starts (if it has not already)
        os.environ.setdefault(name, value)
    openmp, omp = _load_openmp()
    errors = []
    for path in candidates:
        try:
            lib = C.CDLL(path)
        except OSError as err:
            errors.append(str(err))
            continue
        if not hasattr(lib, "dnnl_primitive_desc_query_md"):
            errors.append(f"{path}: not oneDNN v3")
            continue
        return Runtime(lib, path, openmp, omp)
    raise OSError("; ".join(errors))


# ------------------------------------------------------------------------------------------- the C functions
def _check(result, func, args):
    if result != 0:
        raise OneDNNError(f"{func.__name__} failed: {STATUS.get(result, f'status {result}')}")
    return result


P = C.POINTER
pvp = P(vp)
i64p = P(C.c_int64)

SIGNATURES = {  # name: (restype, argtypes, checked)
    "dnnl_version": (P(Version), [], False),
    "dnnl_get_effective_cpu_isa": (C.c_int, [], False),
    "dnnl_engine_create": (C.c_int, [pvp, C.c_int, C.c_size_t], True),
    "dnnl_stream_create": (C.c_int, [pvp, vp, C.c_uint], True),
    "dnnl_stream_wait": (C.c_int, [vp], False),
    "dnnl_memory_desc_create_with_tag": (C.c_int, [pvp, C.c_int, i64p, C.c_int, C.c_int], True),
    "dnnl_memory_desc_create_with_strides": (C.c_int, [pvp, C.c_int, i64p, C.c_int, i64p], True),
    "dnnl_memory_desc_destroy": (C.c_int, [vp], True),
    "dnnl_memory_desc_clone": (C.c_int, [pvp, vp], True),
    "dnnl_memory_desc_get_size": (C.c_size_t, [vp], False),
    "dnnl_memory_desc_equal": (C.c_int, [vp, vp], False),
    "dnnl_memory_create": (C.c_int, [pvp, vp, vp, vp], True),
    "dnnl_memory_set_data_handle": (C.c_int, [vp, vp], False),
    "dnnl_memory_destroy": (C.c_int, [vp], True),
    "dnnl_primitive_desc_query_md": (vp, [vp, C.c_int, C.c_int], False),
    "dnnl_primitive_desc_query": (C.c_int, [vp, C.c_int, C.c_int, vp], True),
    "dnnl_primitive_desc_destroy": (C.c_int, [vp], True),
    "dnnl_primitive_create": (C.c_int, [pvp, vp], True),
    "dnnl_primitive_destroy": (C.c_int, [vp], True),
    "dnnl_primitive_execute": (C.c_int, [vp, vp, C.c_int, P(ExecArg)], False),
    "dnnl_primitive_attr_create": (C.c_int, [pvp], True),
    "dnnl_primitive_attr_destroy": (C.c_int, [vp], True),
    "dnnl_primitive_attr_set_post_ops": (C.c_int, [vp, vp], True),
    "dnnl_post_ops_create": (C.c_int, [pvp], True),
    "dnnl_post_ops_destroy": (C.c_int, [vp], True),
    "dnnl_post_ops_append_eltwise": (C.c_int, [vp, C.c_int, C.c_float, C.c_float], True),
    "dnnl_post_ops_append_sum": (C.c_int, [vp, C.c_float, C.c_int32, C.c_int], True),
    "dnnl_reorder_primitive_desc_create": (C.c_int, [pvp, vp, vp, vp, vp, vp], True),
    "dnnl_convolution_forward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, C.c_int, vp, vp, vp, vp, i64p, i64p, i64p, i64p, vp], False),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, vp, i64p, i64p, i64p, i64p, vp, vp], False),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, vp, vp, i64p, i64p, i64p, i64p, vp, vp], False),
    "dnnl_deconvolution_forward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, C.c_int, vp, vp, vp, vp, i64p, i64p, i64p, i64p, vp], False),
    "dnnl_deconvolution_backward_data_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, vp, i64p, i64p, i64p, i64p, vp, vp], False),
    "dnnl_deconvolution_backward_weights_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, vp, vp, i64p, i64p, i64p, i64p, vp, vp], False),
    "dnnl_pooling_forward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, C.c_int, vp, vp, i64p, i64p, i64p, i64p, i64p, vp], False),
    "dnnl_pooling_backward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, i64p, i64p, i64p, i64p, i64p, vp, vp], False),
    # epsilon is a C float: it must be declared so (a Python float would be passed as a double)
    "dnnl_batch_normalization_forward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, C.c_float, C.c_uint, vp], False),
    "dnnl_batch_normalization_backward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, vp, C.c_float, C.c_uint, vp, vp], False),
    "dnnl_eltwise_forward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, C.c_int, vp, vp, C.c_float, C.c_float, vp], False),
    "dnnl_eltwise_backward_primitive_desc_create": (
        C.c_int, [pvp, vp, C.c_int, vp, vp, vp, C.c_float, C.c_float, vp, vp], False),
    "dnnl_set_primitive_cache_capacity": (C.c_int, [C.c_int], True),
}


class Library:
    """The bound C functions, the CPU engine and a stream (created once per process)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        lib = runtime.lib
        for name, (restype, argtypes, checked) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
            if checked:
                fn.errcheck = _check
            setattr(self, name[5:], fn)  # without the "dnnl_" prefix
        self.engine = vp()
        self.engine_create(C.byref(self.engine), ENGINE_CPU, 0)
        self.stream = vp()
        self.stream_create(C.byref(self.stream), self.engine, 1)
        v = self.version().contents
        self.version_info = (v.major, v.minor, v.patch, v.hash.decode() if v.hash else "",
                             RUNTIMES.get(v.cpu_runtime, str(v.cpu_runtime)))
        isa = self.get_effective_cpu_isa()
        self.isa = ISA_NAMES.get(isa, str(isa))
        # omp_* of the OpenMP runtime that libdnnl runs on (None for a non-OpenMP build)
        self.omp_set_num_threads = self.omp_get_max_threads = None
        if runtime.omp is not None and self.version_info[4] == "OpenMP":
            try:
                self.omp_set_num_threads = runtime.omp.omp_set_num_threads
                self.omp_set_num_threads.argtypes, self.omp_set_num_threads.restype = [C.c_int], None
                self.omp_get_max_threads = runtime.omp.omp_get_max_threads
                self.omp_get_max_threads.argtypes, self.omp_get_max_threads.restype = [], C.c_int
            except AttributeError:
                self.omp_set_num_threads = self.omp_get_max_threads = None

    def describe(self) -> dict:
        major, minor, patch, commit, runtime = self.version_info
        return {"version": f"{major}.{minor}.{patch}", "commit": commit, "isa": self.isa,
                "cpu_runtime": runtime, "openmp": self.runtime.openmp, "library": self.runtime.path}


_library: Library | None = None
_error: str | None = None
_lock = threading.Lock()


def get() -> Library | None:
    """The library, loaded on first call; None when it cannot be loaded (:func:`error` says why)."""
    global _library, _error
    if _library is not None or _error is not None:
        return _library
    with _lock:
        if _library is None and _error is None:
            try:
                _library = Library(load())
            except (OSError, AttributeError, OneDNNError) as err:
                _error = str(err) or type(err).__name__
    return _library


def error() -> str | None:
    """Why the library could not be loaded (None if it loaded or was not tried)."""
    return _error
