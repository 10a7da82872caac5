"""im2col / col2im: the fast kernels against the loop references, and col2im as the adjoint of im2col."""

import itertools

import numpy as np
import pytest

from cnnkit.kernels.im2col import (
    col2im,
    col2im_nhwc,
    col2im_nhwc_reference,
    col2im_reference,
    columns_output_size,
    im2col,
    im2col_nhwc,
    im2col_nhwc_columns,
    im2col_nhwc_reference,
    im2col_reference,
    normalize_padding,
)


def _grid():
    """(x shape, kernel, stride, padding, dilation) over a grid, keeping those with a non-empty output."""
    cases = []
    shapes = [(1, 1, 5, 5), (2, 3, 6, 7), (3, 2, 1, 4)]
    kernels = [(1, 1), (3, 3), (2, 3), (1, 4)]
    strides = [(1, 1), (2, 1), (3, 2)]
    paddings = [0, (1, 2), ((0, 2), (1, 0))]
    dilations = [(1, 1), (2, 1)]
    for shape, k, s, p, d in itertools.product(shapes, kernels, strides, paddings, dilations):
        oh, ow = columns_output_size(shape[2:], k, s, p, d)
        if oh > 0 and ow > 0:
            cases.append((shape, k, s, p, d))
    return cases


GRID = _grid()


def test_grid_is_large_and_covers_padding():
    assert len(GRID) > 100


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_matches_reference(dtype):
    rng = np.random.default_rng(0)
    for shape, k, s, p, d in GRID:
        x = rng.standard_normal(shape).astype(dtype)
        ours = im2col(x, k, s, p, d)
        ref = im2col_reference(x, k, s, p, d)
        assert ours.dtype == dtype
        assert ours.shape == ref.shape
        assert np.array_equal(ours, ref), (shape, k, s, p, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_matches_reference(dtype):
    rng = np.random.default_rng(1)
    for shape, k, s, p, d in GRID:
        oh, ow = columns_output_size(shape[2:], k, s, p, d)
        cols = rng.standard_normal((shape[1], k[0], k[1], shape[0], oh, ow)).astype(dtype)
        ours = col2im(cols, shape[2:], s, p, d)
        ref = col2im_reference(cols, shape[2:], s, p, d)
        assert ours.dtype == dtype and ours.shape == shape
        np.testing.assert_allclose(ours, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(2)
    for shape, k, s, p, d in GRID:
        x = rng.standard_normal(shape)
        cols = im2col(x, k, s, p, d)
        c = rng.standard_normal(cols.shape)
        lhs = float(np.sum(cols * c))
        rhs = float(np.sum(x * col2im(c, shape[2:], s, p, d)))
        assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (shape, k, s, p, d)


def test_out_buffer_is_fully_overwritten():
    """A reused buffer full of garbage must come back with zeros wherever a window reads the padding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    ref = im2col_reference(x, (3, 3), (2, 1), 2, (1, 2))
    buf = np.full(ref.shape, np.nan, dtype=np.float32)
    out = im2col(x, (3, 3), (2, 1), 2, (1, 2), out=buf)
    assert out is buf
    assert np.array_equal(out, ref)


def test_col2im_accumulates_into_out():
    rng = np.random.default_rng(4)
    cols = rng.standard_normal((2, 3, 3, 1, 4, 4))
    base = rng.standard_normal((1, 2, 4, 4))
    out = base.copy()
    col2im(cols, (4, 4), 1, 1, 1, out=out)
    np.testing.assert_allclose(out, base + col2im_reference(cols, (4, 4), 1, 1, 1), atol=1e-12)


def test_smaller_out_size_takes_leading_positions():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 7, 6))
    full = im2col(x, (3, 2), (1, 2), 1, 2)
    part = im2col(x, (3, 2), (1, 2), 1, 2, out_size=(3, 2))
    assert np.array_equal(part, full[..., :3, :2])
    assert np.array_equal(part, im2col_reference(x, (3, 2), (1, 2), 1, 2, out_size=(3, 2)))
    c = rng.standard_normal(part.shape)
    np.testing.assert_allclose(col2im(c, (7, 6), (1, 2), 1, 2), col2im_reference(c, (7, 6), (1, 2), 1, 2))


def test_known_values_single_channel():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    cols = im2col(x, 2, 2, 0, 1)  # four non-overlapping 2x2 windows
    assert cols.shape == (1, 2, 2, 1, 2, 2)
    assert np.array_equal(cols[0, :, :, 0, 0, 0], [[0, 1], [4, 5]])
    assert np.array_equal(cols[0, :, :, 0, 1, 1], [[10, 11], [14, 15]])
    # col2im of all-ones counts how many windows read each pixel: 3x3 kernel, stride 1, padding 1 on 3x3
    counts = col2im(np.ones((1, 3, 3, 1, 3, 3)), (3, 3), 1, 1, 1)
    assert np.array_equal(counts[0, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


def test_normalize_padding_forms():
    assert normalize_padding(1) == ((1, 1), (1, 1))
    assert normalize_padding((1, 2)) == ((1, 1), (2, 2))
    assert normalize_padding(((0, 1), (2, 3))) == ((0, 1), (2, 3))


def test_bad_out_buffer_is_rejected():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"im2col: out must have shape \(1, 3, 3, 1, 2, 2\)"):
        im2col(x, 3, 1, 0, 1, out=np.zeros((1, 3, 3, 1, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="col2im: out must have shape"):
        col2im(np.zeros((1, 3, 3, 1, 2, 2)), (4, 4), out=np.zeros((1, 1, 4, 5)))


# ------------------------------------------------------------------------------ channels-last rows (compiled)


def _nhwc_grid():
    """GRID with the images channels-last and 1 or 2 channel groups (where the channels divide)."""
    return [((n, h, w, c), k, s, p, d, g) for (n, c, h, w), k, s, p, d in GRID for g in (1, 2) if c % g == 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_nhwc_matches_reference(dtype):
    rng = np.random.default_rng(6)
    for shape, k, s, p, d, g in _nhwc_grid():
        x = rng.standard_normal(shape).astype(dtype)
        ours = im2col_nhwc(x, k, s, p, d, g)
        assert ours.dtype == dtype
        assert np.array_equal(ours, im2col_nhwc_reference(x, k, s, p, d, g)), (shape, k, s, p, d, g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_nhwc_matches_reference_and_is_the_adjoint(dtype):
    rng = np.random.default_rng(7)
    for shape, k, s, p, d, g in _nhwc_grid():
        oh, ow = columns_output_size(shape[1:3], k, s, p, d)
        rows = rng.standard_normal((shape[0] * oh * ow, k[0] * k[1] * shape[3])).astype(dtype)
        ours = col2im_nhwc(rows, shape, k, s, p, d, g)
        ref = col2im_nhwc_reference(rows, shape, k, s, p, d, g)
        assert ours.dtype == dtype and ours.shape == shape
        np.testing.assert_allclose(ours, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
        x = rng.standard_normal(shape)
        lhs = float(np.sum(im2col_nhwc(x, k, s, p, d, g) * rows))
        rhs = float(np.sum(x * ours))
        assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs)), (shape, k, s, p, d, g)


def test_nhwc_rows_are_the_nchw_columns_reordered():
    """Row (n, oh, ow), column (i, j, c) of the NHWC layout is column entry [c, i, j, n, oh, ow] of im2col."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 5))
    cols = im2col(x, (3, 2), (2, 1), 1, (1, 2))
    rows = im2col_nhwc(x.transpose(0, 2, 3, 1), (3, 2), (2, 1), 1, (1, 2))
    c, kh, kw, n, oh, ow = cols.shape
    assert np.array_equal(rows, cols.transpose(3, 4, 5, 1, 2, 0).reshape(n * oh * ow, kh * kw * c))


def test_nhwc_buffers_and_accumulation():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    ref = im2col_nhwc_reference(x, 3, 2, 2, 1)
    buf = np.full(ref.shape, np.nan, dtype=np.float32)
    assert im2col_nhwc(x, 3, 2, 2, 1, out=buf) is buf and np.array_equal(buf, ref)
    base = rng.standard_normal(x.shape).astype(np.float32)
    out = base.copy()
    col2im_nhwc(ref, x.shape, 3, 2, 2, 1, out=out, accumulate=True)
    np.testing.assert_allclose(out, base + col2im_nhwc_reference(ref, x.shape, 3, 2, 2, 1), rtol=1e-5, atol=1e-5)
    col2im_nhwc(ref, x.shape, 3, 2, 2, 1, out=out)  # without accumulate the image is overwritten
    np.testing.assert_allclose(out, col2im_nhwc_reference(ref, x.shape, 3, 2, 2, 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="im2col_nhwc: out must be C-contiguous"):
        im2col_nhwc(x, 3, 2, 2, 1, out=np.empty((1, 1), np.float32))
    with pytest.raises(ValueError, match="col2im_nhwc: expected rows of shape"):
        col2im_nhwc(ref[1:], x.shape, 3, 2, 2, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_major_columns_of_nhwc_match_im2col(dtype):
    """im2col_nhwc_columns of an NHWC image is im2col of the same image (NCHW view), flattened to 2-D."""
    rng = np.random.default_rng(10)
    for (n, c, h, w), k, s, p, d in GRID:
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        ref = im2col_reference(x.transpose(0, 3, 1, 2), k, s, p, d)
        ours = im2col_nhwc_columns(x, k, s, p, d)
        assert ours.dtype == dtype
        assert np.array_equal(ours, ref.reshape(ours.shape)), ((n, c, h, w), k, s, p, d)
    x = rng.standard_normal((2, 7, 6, 2))
    part = im2col_nhwc_columns(x, (3, 2), (1, 2), 1, 2, out_size=(3, 2))
    assert np.array_equal(part, im2col_reference(x.transpose(0, 3, 1, 2), (3, 2), (1, 2), 1, 2,
                                                 out_size=(3, 2)).reshape(part.shape))
