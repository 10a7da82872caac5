"""The compiled kernels' on-disk cache: a writable fallback folder when the package folder is read-only (and only
then), no Numba at ``import cnnkit``, and float64 through the compiled paths."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnnkit.kernels import _numba


def _deny_writes_under(monkeypatch, root):
    """os.access says 'not writable' for ``root`` and everything below it (root may write anywhere, so a chmod
    would not simulate a read-only install when the tests run as root)."""
    real = os.access
    root = os.path.abspath(root)

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and os.path.abspath(path).startswith(root):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_no_fallback_when_the_user_chose_a_folder(tmp_path, monkeypatch):
    _deny_writes_under(monkeypatch, tmp_path)
    assert _numba.cache_dir_fallback(str(tmp_path), {"NUMBA_CACHE_DIR": "/somewhere"}) is None


def test_no_fallback_when_the_package_folder_is_writable(tmp_path):
    assert _numba.cache_dir_fallback(str(tmp_path), {}) is None


def test_fallback_when_the_package_folder_is_read_only(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "cnnkit"
    (package / "kernels").mkdir(parents=True)
    _deny_writes_under(monkeypatch, package)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert _numba.cache_dir_fallback(str(package), {}) == str(tmp_path / "cache" / "cnnkit" / "numba")
    # when the user cache folder is not writable either, a folder under the temporary directory
    _deny_writes_under(monkeypatch, tmp_path / "cache")
    fallback = _numba.cache_dir_fallback(str(package), {})
    assert fallback is not None and fallback.startswith(os.path.join(__import__("tempfile").gettempdir(), ""))


_CHILD = textwrap.dedent("""
    import os, sys
    package, cache_home = sys.argv[1], sys.argv[2]
    real_access = os.access
    os.access = lambda p, m, *a, **k: (False if m & os.W_OK and os.path.abspath(p).startswith(package)
                                       else real_access(p, m, *a, **k))
    import cnnkit
    assert "numba" not in sys.modules, "import cnnkit must not import numba"
    from cnnkit.kernels import _numba, elementwise
    _numba._PACKAGE_DIR = package  # pretend the install folder is this read-only one
    import numpy as np
    x = np.linspace(-1, 1, 1 << 19).astype(np.float32)
    assert np.array_equal(elementwise.relu(x), np.maximum(x, 0))  # compiles (and caches) the kernel
    print(os.environ.get("NUMBA_CACHE_DIR"))
""")


def test_compiled_kernels_cache_into_the_fallback_folder(tmp_path):
    """A fresh process whose package folder is read-only compiles into the fallback folder, and a second one
    finds the cache there."""
    package = tmp_path / "ro" / "cnnkit"
    (package / "kernels").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    expected = tmp_path / "cache" / "cnnkit" / "numba"
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(package), str(tmp_path / "cache")], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == str(expected)
    index_files = [f for _, _, files in os.walk(expected) for f in files if f.endswith(".nbi")]
    assert index_files, "no Numba cache index was written to the fallback folder"


def test_setup_leaves_a_user_choice_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _numba.cache_dir_fallback() is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_paths_keep_float64_and_float32(dtype, monkeypatch):
    """Every compiled kernel runs for both dtypes (on the threads too) and keeps the dtype."""
    from cnnkit.kernels import _parallel, elementwise, norm, pool
    from cnnkit.kernels import conv as K

    monkeypatch.setattr(_parallel, "_num_threads", 2)
    for module, name in ((elementwise, "PARALLEL_MIN_SIZE"), (norm, "PARALLEL_MIN_SIZE"), (pool, "PARALLEL_MIN_SIZE"),
                         (K, "PARALLEL_MIN_FLOPS")):
        monkeypatch.setattr(module, name, 0)
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((4, 6, 7, 5)).astype(dtype))  # channels-last memory
    x_cl = x.transpose(0, 3, 1, 2)
    w = rng.standard_normal((3, 5, 3, 3)).astype(dtype)
    y = K.conv2d_forward(x_cl, w, None, 1, 1)
    ref = K.conv2d_reference(x_cl.astype(np.float64), w.astype(np.float64), None, 1, 1)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
    gx, gw, _ = K.conv2d_backward(np.ones_like(y), x_cl, w, 1, 1)
    assert y.dtype == gx.dtype == gw.dtype == dtype
    rows = norm.channels_last_rows(x_cl)
    bn = norm.batch_norm_train_forward_rows(rows, np.ones(5, dtype), np.zeros(5, dtype), 1e-5)
    assert all(a.dtype == dtype for a in bn)
    assert elementwise.relu(x_cl).dtype == dtype and elementwise.add(x_cl, x_cl).dtype == dtype
    values, idx = pool.max_pool2d_forward_nhwc(x, (2, 2), (2, 2), (0, 0))
    assert values.dtype == dtype and idx.dtype == np.int64
