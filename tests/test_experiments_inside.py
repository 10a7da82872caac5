"""The lessons about what happens inside a CNN: each experiment plots exactly the numbers it measured (spied on the
plotting calls), at tiny sizes; and the measurements mean what they say."""

import json

import numpy as np
import pytest
from plot_spy import spy_on_plots

import cnnkit as ck
from cnnkit.experiments import activations, batch, depth, ensembles, initialization, pooling, weight_sharing
from cnnkit.experiments._nets import DeepNet, initialise, weight_grad_norms

TINY = {"n_train": 64, "n_val": 32, "epochs": 1}


@pytest.fixture
def plotted(monkeypatch):
    return spy_on_plots(monkeypatch, ("plot_series", "plot_panels", "plot_layer_profiles", "plot_bars",
                                        "plot_histogram_grid", "plot_image_rows", "plot_xy"))


def test_activations_plots_the_measured_gradient_norms(tmp_path, plotted):
    result = activations.run(tmp_path, depth=5, width=4, **TINY)
    panels = plotted["plot_layer_profiles"][0][0]
    assert panels["at initialisation"] == result["grad_norms_at_init"]
    assert list(panels.values())[1] == result["grad_norms_trained"]
    assert plotted["plot_series"][0][0] == {n: r["val_accuracy"] for n, r in result["runs"].items()}
    # the plotted numbers are the measured ones: measure sigmoid's again from the same seed
    from cnnkit.experiments._common import digits_arrays

    x, y = digits_arrays(64, 32, 0)["train"]
    ck.manual_seed(0)
    model = DeepNet(4, 4, activation="sigmoid")
    initialise(model, "He", 0)
    assert weight_grad_norms(model, x[:256], y[:256]) == pytest.approx(result["grad_norms_at_init"]["sigmoid"])
    assert result["first_layer_ratio_relu_to_sigmoid"] >= 10  # the vanishing gradient, even 5 layers deep
    assert (tmp_path / "activations_gradients.png").is_file() and (tmp_path / "activations_accuracy.png").is_file()


def test_depth_plots_the_training_histories(tmp_path, plotted):
    result = depth.run(tmp_path, depths=(3, 5), width=4, **TINY)
    panels = plotted["plot_panels"][0][0]
    assert set(result["runs"]) == {"plain-3", "residual-3", "plain-5", "residual-5"}
    assert panels["training loss"] == {n: r["loss"] for n, r in result["runs"].items()}
    assert panels["validation loss"] == {n: r["val_loss"] for n, r in result["runs"].items()}
    assert result["runs"]["plain-5"]["parameters"] > result["runs"]["plain-3"]["parameters"]


def test_init_plots_the_measured_activation_spread(tmp_path, plotted):
    result = initialization.run(tmp_path, depth=6, width=4, **TINY)
    stats = result["activation_stats"]
    panels = plotted["plot_layer_profiles"][0][0]
    assert panels["without batch norm"]["He"] == pytest.approx(stats["He, no BN"]["std"])
    assert stats["zero, no BN"]["std"] == [0.0] * 6  # zero weights: every activation is 0
    small, he = stats["small random, no BN"]["std"], stats["He, no BN"]["std"]
    assert small[-1] < 1e-4 * small[0] and he[-1] > 0.1 * he[0]  # small weights vanish; He keeps the spread
    assert stats["small random, BN"]["std"][-1] > 0.1  # batch norm restores it
    cells = plotted["plot_histogram_grid"][0][0]
    assert set(cells) == set(initialization.INITS) and set(cells["He"]) == {"without batch norm", "with batch norm"}


def test_ensembles_plot_the_measured_rows(tmp_path, plotted):
    result = ensembles.run(tmp_path, epochs=2, members=2, boost_rounds=2, weak_epochs=2, n_train=200,
                           n_holdout=60)
    bars = plotted["plot_bars"][0][0]
    rows = result["results"]
    assert bars["test accuracy"] == {n: r["test_accuracy"] for n, r in rows.items()}
    assert bars["test loss (NLL)"] == {n: r["test_loss"] for n, r in rows.items()}
    assert bars["training CPU seconds"] == {n: c["cpu_seconds"] for n, c in result["cost"].items()}
    for name in ("average of 2", "vote of 2", "bagging of 2", "stacking of 2", "snapshot ensemble of 2"):
        assert 0 <= rows[name]["test_accuracy"] <= 1 and rows[name]["test_loss"] > 0
    members = result["member_test_scores"]
    assert rows["best single (by test loss)"] == min(members, key=lambda m: m["test_loss"])
    assert json.loads(json.dumps(result))  # plain numbers only


def test_batch_plots_loss_per_epoch_and_per_second(tmp_path, plotted):
    result = batch.run(tmp_path, batch_sizes=(16,), **TINY)
    panels = plotted["plot_xy"][0][0]
    runs = result["runs"]
    assert set(runs) == {"batch 16", "full batch (64)"}
    assert runs["batch 16"]["steps_per_epoch"] == 4 and runs["full batch (64)"]["steps_per_epoch"] == 1
    for name, r in runs.items():
        assert panels["per epoch"]["series"][name][1] == r["loss"]
        assert panels["per CPU second"]["series"][name] == (r["cpu_seconds"], r["loss"])


def test_weight_sharing_matches_parameter_counts(tmp_path, plotted):
    result = weight_sharing.run(tmp_path, width=4, **TINY)
    (fc, fc_run), (cnn, cnn_run) = result["runs"].items()
    assert abs(fc_run["parameters"] - cnn_run["parameters"]) / cnn_run["parameters"] < 0.05
    assert cnn_run["macs"] > 2 * fc_run["macs"]  # shared weights are reused at every position
    assert plotted["plot_series"][0][0] == {f"{fc} val": fc_run["val_accuracy"], f"{cnn} val": cnn_run["val_accuracy"]}
    moved = weight_sharing.shifted(np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8), seed=0)
    assert np.count_nonzero(moved) >= 55  # one row or column fell off, the rest moved by one pixel


def test_pooling_keeps_edges_with_max_and_smooths_with_average(tmp_path, plotted):
    result = pooling.run(tmp_path, levels=2, image_size=64, width=4, **TINY)
    response = result["edge_response"]
    assert response["max"][-1] > 2 * response["average"][-1]  # max keeps the strongest edges, average dilutes them
    assert response["average"][-1] == pytest.approx(response["average"][0], rel=1e-5)  # averaging keeps the mean
    rows = plotted["plot_image_rows"][0][0]
    image = pooling.sample_image(64)
    blocks = image.reshape(32, 2, 32, 2)
    np.testing.assert_allclose(rows["max: photograph"][1][1], blocks.max(axis=(1, 3)))
    np.testing.assert_allclose(rows["average: photograph"][1][1], blocks.mean(axis=(1, 3)), rtol=1e-6)
    edge_blocks = pooling.edge_map(image).reshape(32, 2, 32, 2)
    np.testing.assert_allclose(rows["max: edge map"][1][1], edge_blocks.max(axis=(1, 3)))
    assert rows["max: edge map"][-1][0].endswith(f"mean edge {response['max'][-1]:.3f}")
    assert plotted["plot_series"][0][0] == {f"{k} pooling": r["val_accuracy"] for k, r in result["runs"].items()}
