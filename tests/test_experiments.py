"""The experiments plot exactly the numbers they trained, and write PNG + JSON."""

import json

import pytest
from plot_spy import spy_on_plots

from cnnkit import experiments
from cnnkit.experiments import _common, optimizers, overfitting


@pytest.fixture
def captured(monkeypatch):
    return spy_on_plots(monkeypatch, ("plot_series", "plot_panels", "plot_paths_2d"))


def test_optimizers_experiment_plots_what_it_trained(tmp_path, captured):
    result = optimizers.run(tmp_path, epochs=2, n_train=96, n_val=64)
    assert set(result["runs"]) == {"SGD", "Momentum", "AdaGrad", "RMSprop", "Adam"}
    plotted = captured["plot_series"][-1][0]
    assert plotted == {name: run["loss"] for name, run in result["runs"].items()}
    # the plotted curve is the training history: retrain one optimizer and compare
    loaders = _common.digits_subset(96, 64, 0)
    again = _common.train_small_cnn({}, "adam", optimizers.OPTIMIZERS["Adam"][1], 2, 0, loaders)
    assert again["loss"] == pytest.approx(result["runs"]["Adam"]["loss"], rel=1e-6)
    assert (tmp_path / "optimizers.png").is_file() and (tmp_path / "optimizer_paths.png").is_file()
    paths = captured["plot_paths_2d"][-1][1]
    assert paths == result["paths"] and len(paths["Adam"]) == 41
    assert abs(paths["Momentum"][-1][0]) < abs(paths["Momentum"][0][0])  # the paths head for the minimum


def test_overfitting_experiment_json_matches_plot(tmp_path, captured):
    result = overfitting.run(tmp_path, epochs=2, n_train=64, n_val=64)
    panels = captured["plot_panels"][-1][0]
    for name, run in result["runs"].items():
        assert panels[name] == {"train loss": run["loss"], "val loss": run["val_loss"]}
    assert (tmp_path / "overfitting.png").is_file()


def test_run_experiment_writes_json(tmp_path, monkeypatch):
    monkeypatch.setitem(experiments.EXPERIMENTS, "overfitting",
                        lambda out, epochs=30, seed=0: {"experiment": "overfitting", "runs": {}, "message": "m"})
    result = experiments.run_experiment("overfitting", out=tmp_path, epochs=1)
    assert json.loads((tmp_path / "overfitting.json").read_text())["experiment"] == "overfitting"
    assert result["out"] == str(tmp_path)
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.run_experiment("nope", out=tmp_path)
