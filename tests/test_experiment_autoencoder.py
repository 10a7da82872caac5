"""`cnnkit experiment autoencoder`: the plotted numbers are the measured ones, PCA is the SVD's, and the linear
autoencoder and the denoising run are reachable."""

import json

import numpy as np
import pytest
from plot_spy import spy_on_plots

import cnnkit as ck
from cnnkit.cli import main
from cnnkit.experiments import autoencoder
from cnnkit.experiments._common import digits_arrays
from cnnkit.models.autoencoder import ConvAutoencoder, LinearAutoencoder


@pytest.fixture
def plotted(monkeypatch):
    return spy_on_plots(monkeypatch, ("plot_xy", "plot_image_grid", "plot_codes_2d"))


def test_autoencoder_experiment_plots_what_it_measured(tmp_path, plotted):
    result = autoencoder.run(tmp_path, epochs=1, n_train=128, code_sizes=(2, 8), channels=(4, 8), examples=4)
    series = plotted["plot_xy"][-1][0]["test reconstruction error"]["series"]
    for method in autoencoder.METHODS:
        assert series[method] == ([2, 8], [result["mse"][method]["2"], result["mse"][method]["8"]])
    # PCA's error is that of the SVD's top components, computed here independently (numpy's own projection)
    arrays = digits_arrays(128, 0, 0)
    x = arrays["train"][0].reshape(128, -1).astype(np.float64)
    test = arrays["test"][0].reshape(len(arrays["test"][0]), -1)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean)
    basis = vt[:8].T
    rebuilt = mean + (test - mean) @ basis @ basis.T
    assert result["mse"]["PCA"]["8"] == pytest.approx(float(((rebuilt - test) ** 2).mean()), rel=1e-5)
    assert result["mse"]["PCA"]["8"] < result["mse"]["PCA"]["2"]
    # the picture shows the test digits and these reconstructions; the scatter the 2-D codes by label
    rows = plotted["plot_image_grid"][-1][0]
    np.testing.assert_array_equal(rows["original"], arrays["test"][0][:4])
    assert list(rows) == ["original"] + [f"{m} ({k})" for k in (2, 8) for m in autoencoder.METHODS]
    codes, labels = plotted["plot_codes_2d"][-1][:2]
    assert set(codes) == set(autoencoder.METHODS) and codes["PCA"].shape == (len(labels), 2)
    assert result["histories"]["conv autoencoder"]["8"]["loss"][0] > 0
    for name in result["files"][:-1]:
        assert (tmp_path / name).is_file()
    assert "code size" in result["table"] and len(result["table"].splitlines()) == 3


def test_the_linear_autoencoder_measured_is_the_one_retrained(tmp_path):
    result = autoencoder.run(tmp_path, epochs=1, n_train=64, code_sizes=(2,), channels=(4, 8), lr=0.02)
    arrays = digits_arrays(64, 0, 0)
    from cnnkit.experiments._common import fit, loaders_from

    ck.manual_seed(0)
    model = LinearAutoencoder((1, 8, 8), 2)
    ck.manual_seed(1)
    fit(model, loaders_from(arrays, 64), "adam", 0.02, 1, keys=("loss",), task="reconstruction")
    model.eval()
    with ck.no_grad():
        out = model(ck.tensor(arrays["test"][0])).numpy()
    assert result["mse"]["linear autoencoder"]["2"] == pytest.approx(float(((out - arrays["test"][0]) ** 2).mean()),
                                                                       rel=1e-5)


def test_conv_autoencoder_code_size():
    model = ConvAutoencoder(1, (4, 8), code_size=3, input_size=8)
    x = ck.tensor(np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32))
    assert model.encode(x).shape == (2, 3) and model(x).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* 2"):
        ConvAutoencoder(1, (4, 8), code_size=3, input_size=10)
    with pytest.raises(ValueError, match="needs input_size"):
        ConvAutoencoder(1, (4, 8), code_size=3)


def test_denoising_autoencoder_from_the_cli(tmp_path, capsys):
    out = tmp_path / "dae"
    assert main(["train", "--task", "reconstruction", "--dataset", "digits", "--model", "conv_autoencoder",
                 "--noise", "0.3", "--epochs", "1", "--subset", "64", "--out", str(out), "--no-progress",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["psnr"] > 0
    from cnnkit.runs import load_run

    loaded = load_run(out / "best.ckpt")
    assert loaded.config.noise == 0.3 and loaded.task.noise == 0.3  # saved in the run, restored with it
    assert (out / "reconstructions.png").is_file()
    assert main(["train", "--noise", "0.3", "--epochs", "1", "--out", str(tmp_path / "x")]) == 2
    assert "applies to the reconstruction task, not classification (--noise)" in capsys.readouterr().err
