import math

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from metrics import brute
from metrics.streams import check_stream_and_merge, cuts
from oracle import requires_torch, torch

from cnnkit.metrics import PSNR, MeanSquaredError


@st.composite
def case(draw):
    n = draw(st.integers(0, 8))
    shape = (n, *draw(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8]))
    elements = st.integers(0, 255) if dtype == np.uint8 else st.floats(-2, 2, width=32)
    output = draw(hnp.arrays(dtype, shape, elements=elements))
    target = draw(st.just(output.copy()) | hnp.arrays(dtype, shape, elements=elements))  # sometimes exact: inf PSNR
    return output, target, draw(cuts(n)), draw(st.integers(0, n)), draw(st.booleans())


@settings(deadline=None, max_examples=80)
@given(case())
def test_mse_streams_like_the_whole(args):
    output, target, bounds, half, wrap = args
    expected = brute.mse(output, target)
    check_stream_and_merge(MeanSquaredError, [output, target], bounds, half, expected, wrap)


@settings(deadline=None, max_examples=80)
@given(case(), st.sampled_from([1.0, 2.0, 255.0]))
def test_psnr_streams_like_the_whole(args, data_range):
    output, target, bounds, half, wrap = args
    expected = brute.psnr(output, target, data_range)
    check_stream_and_merge(lambda: PSNR(data_range), [output, target], bounds, half, expected, wrap)


def test_psnr_is_pooled_over_all_elements_not_averaged_per_batch():
    m = PSNR(data_range=1.0)
    m.update(np.zeros((1, 4)), np.full((1, 4), 0.1))  # MSE 0.01 -> 20 dB
    m.update(np.zeros((1, 4)), np.full((1, 4), 0.01))  # MSE 1e-4 -> 40 dB
    assert m.compute() == pytest.approx(10 * math.log10(1 / ((0.01 + 1e-4) / 2)))


def test_names_directions_and_special_values():
    mse, psnr = MeanSquaredError(), PSNR(255)
    assert (mse.name, psnr.name, mse.higher_is_better, psnr.higher_is_better) == ("mse", "psnr", False, True)
    assert math.isnan(mse.compute()) and math.isnan(psnr.compute())
    image = np.arange(12, dtype=np.uint8).reshape(1, 3, 2, 2)
    psnr.update(image, image)
    assert psnr.compute() == math.inf
    psnr.update(image, image + 1)  # uint8 differences are taken in float64, no wrap-around
    assert psnr.compute() == pytest.approx(10 * math.log10(255**2 / 0.5))


@requires_torch
def test_mse_agrees_with_torch():
    rng = np.random.default_rng(0)
    parts = [(rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((4, 3, 5, 5))) for _ in range(3)]
    m = MeanSquaredError()
    for o, t in parts:
        m.update(o, t)
    o, t = (np.concatenate(p) for p in zip(*parts, strict=True))
    assert m.compute() == pytest.approx(torch.nn.functional.mse_loss(torch.tensor(o), torch.tensor(t)).item(),
                                        rel=1e-12)
