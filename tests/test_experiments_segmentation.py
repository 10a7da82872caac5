"""The segmentation experiments (fcn, upsampling) plot and report exactly what they trained, at tiny sizes."""

import json

import numpy as np
import pytest

import cnnkit as ck
from cnnkit import models, viz
from cnnkit.experiments import _segmentation, fcn, upsampling

TINY = {"epochs": 1, "n_train": 24, "n_test": 12, "examples": 2}


@pytest.fixture
def rows(monkeypatch):
    calls = []
    original = viz.plot_image_rows

    def spy(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(viz, "plot_image_rows", spy)
    return calls


def _retrained_miou(build, seed=0, **kw):
    train, test_loader, info, _ = _segmentation.scenes(TINY["n_train"], TINY["n_test"], seed, 16)
    ck.manual_seed(seed)
    return _segmentation.train_segmenter(build(info), train, test_loader, info, TINY["epochs"], 3e-3, seed)


def test_fcn_experiment_shows_the_trained_masks_and_numbers(tmp_path, rows):
    result = fcn.run(tmp_path, **TINY)
    assert set(result["runs"]) == set(fcn.VARIANTS)
    (picture,) = rows
    assert list(picture) == ["scene 0", "scene 1"]
    for i, (caption, cell) in enumerate(picture["scene 1"][2:]):
        name = fcn.VARIANTS[i]
        assert caption == f"{name[3:-6]} IoU {result['runs'][name]['test_mean_iou']:.2f}"
        assert cell.shape == (64, 64, 3)
    again = _retrained_miou(lambda info: models.build_model("fcn8s_small", num_classes=4, in_channels=3))
    assert again["test_mean_iou"] == pytest.approx(result["test_mean_iou"]["fcn8s_small"], rel=1e-6)
    assert again["loss"] == pytest.approx(result["runs"]["fcn8s_small"]["loss"], rel=1e-6)
    assert result["fcn8s_beats_fcn32s"] == (result["test_mean_iou"]["fcn8s_small"] >
                                            result["test_mean_iou"]["fcn32s_small"])
    assert (tmp_path / "fcn.png").is_file()


def test_upsampling_experiment_reports_what_it_measured(tmp_path, rows):
    result = upsampling.run(tmp_path, widths=(4, 8), **TINY)
    assert list(result["table"]) == list(upsampling.MODES)
    (picture,) = rows
    for mode, (caption, _) in zip(upsampling.MODES, picture["scene 0"][2:], strict=True):
        run = result["runs"][mode]
        assert caption == f"{mode} IoU {run['test_mean_iou']:.2f}"
        assert result["table"][mode]["test_mean_iou"] == run["test_mean_iou"]
        built = models.encoder_decoder(3, 4, widths=(4, 8), up=mode)
        assert result["table"][mode]["parameters"] == built.num_parameters()
        assert result["table"][mode]["ms_per_image"] > 0
    params = {m: t["parameters"] for m, t in result["table"].items()}
    assert params["nearest"] == params["bilinear"] == params["unpool"] < params["transpose"]
    again = _retrained_miou(lambda info: models.encoder_decoder(3, 4, widths=(4, 8), up="unpool"))
    assert again["test_mean_iou"] == pytest.approx(result["runs"]["unpool"]["test_mean_iou"], rel=1e-6)
    json.dumps(result)  # what run_experiment writes
    assert (tmp_path / "upsampling.png").is_file()


def test_colour_draws_classes_and_ignore():
    mask = np.array([[0, 1], [3, 255]])
    pic = _segmentation.colour(mask)
    assert pic.shape == (2, 2, 3)
    np.testing.assert_array_equal(pic[0, 0], _segmentation.PALETTE[0])
    np.testing.assert_array_equal(pic[1, 1], [1, 1, 1])
