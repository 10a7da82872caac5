"""The padding kernels against their loop references: every mode, negative widths, several axes, the memory
order of results and gradients."""

import itertools

import numpy as np
import pytest

from cnnkit.kernels import pad as P
from cnnkit.kernels.elementwise import memory_order

MODES = ["constant", "reflect", "replicate", "circular"]
WIDTHS = [((0, 0), (0, 0), (1, 2), (3, 1)), ((0, 0), (1, 1), (-1, 2), (2, -2)), ((0, 0), (0, 0), (0, 0), (-3, 4)),
          ((1, 0), (0, 2), (2, 2), (0, 0)), ((0, 0), (0, 0), (-2, -1), (0, 0))]


def _valid(shape, widths, mode):
    for n, (b, e) in zip(shape, widths, strict=True):
        if n + b + e < 0 or (mode == "reflect" and max(b, e) >= n) or (
                mode == "circular" and max(b, e) > n + min(b, 0) + min(e, 0)):
            return False
    return True


CASES = [(w, m) for w, m in itertools.product(WIDTHS, MODES) if _valid((2, 3, 4, 5), w, m)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("widths,mode", CASES)
def test_kernels_match_loop_references(widths, mode, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    out = P.pad(x, widths, mode, value=1.5)
    np.testing.assert_array_equal(out, P.pad_reference(x, widths, mode, value=1.5))
    assert out.dtype == dtype
    g = rng.standard_normal(out.shape).astype(dtype)
    grad = P.pad_backward(g, x.shape, widths, mode)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, P.pad_backward_reference(g, x.shape, widths, mode), rtol=1e-6, atol=1e-6)


def test_cases_cover_every_mode():
    assert {m for _, m in CASES} == set(MODES)


@pytest.mark.parametrize("mode", MODES)
def test_memory_order_is_kept(mode):
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).transpose(0, 3, 1, 2)  # channels-last NCHW view
    widths = ((0, 0), (0, 0), (1, 2), (2, 1))
    out = P.pad(x, widths, mode)
    assert out.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(out, P.pad_reference(x, widths, mode))
    for g in (out, np.ascontiguousarray(out)):  # an upstream gradient in either layout
        grad = P.pad_backward(g, x.shape, widths, mode, order=(0, 2, 3, 1))
        if mode != "constant":
            assert grad.transpose(0, 2, 3, 1).flags.c_contiguous
        elif g is out:  # constant without cropping: a view of g, in g's layout
            assert memory_order(grad) == (0, 2, 3, 1)
        np.testing.assert_allclose(grad, P.pad_backward_reference(g, x.shape, widths, mode))


def test_source_index():
    np.testing.assert_array_equal(P.source_index(4, 2, 3, "reflect"), [2, 1, 0, 1, 2, 3, 2, 1, 0])
    np.testing.assert_array_equal(P.source_index(4, 2, 1, "replicate"), [0, 0, 0, 1, 2, 3, 3])
    np.testing.assert_array_equal(P.source_index(4, 2, 1, "circular"), [2, 3, 0, 1, 2, 3, 0])
    np.testing.assert_array_equal(P.source_index(5, 2, -1, "circular"), [2, 3, 0, 1, 2, 3])  # wraps the kept 4
    np.testing.assert_array_equal(P.source_index(4, -1, 2, "constant"), [1, 2, 3, -1, -1])


def test_both_paths_are_exercised():
    """Edges copied from the centre (the usual case) and, where an edge reads a cropped-away element, a gather."""
    assert P._Axis(5, 1, 2, "reflect").in_centre and P._Axis(5, -1, 3, "circular").in_centre
    assert not P._Axis(5, -3, 4, "reflect").in_centre
    assert any(not P._Axis(5, b, e, m).in_centre for (_, _, _, (b, e)), m in CASES)
