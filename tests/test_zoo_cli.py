"""Every classifier of the zoo trains one epoch from the command line on the bundled digits and on the generated
shapes: the data pipeline converts the images to the model's channels and size (its natural size, or --image-size),
and a size the model cannot take is refused up front in one line, leaving no run folder.

To keep this affordable every model trains on --subset 4 images of each set at the smallest image size it takes
(at least 8 pixels; the table in cnnkit.models.sizes, which this test thereby checks), with plain SGD (no
optimizer state to save) into a folder on a memory file system where there is one (the checkpoints of the VGG
family are 0.5 GB).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main
from cnnkit.models import list_models, model_info
from cnnkit.models.sizes import SIZES, min_input_size, takes_size
from cnnkit.training import load_checkpoint

CLASSIFIERS = list_models("classification")


@pytest.fixture
def fast_dir():
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="cnnkit-zoo-", dir=root))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_size_table_covers_every_classifier():
    assert sorted(SIZES) == CLASSIFIERS
    for name in CLASSIFIERS:
        assert takes_size(name, model_info(name).input_size[1]), name


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_trains_one_epoch_from_the_cli(name, dataset, fast_dir, capsys):
    size = max(8, min_input_size(name))
    size += -size % SIZES[name][2]
    out = fast_dir / "run"
    argv = ["train", "--model", name, "--dataset", dataset, "--epochs", "1", "--subset", "4", "--batch-size", "4",
            "--val-fraction", "0", "--optimizer", "sgd", "--out", str(out), "--no-progress", "--json"]
    if name != "small_cnn":  # (small_cnn is built for the data's own size)
        argv += ["--image-size", str(size)]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["epochs"] == 1 and 0.0 <= report["test_accuracy"] <= 1.0
    state = load_checkpoint(out / "last.ckpt")
    data = state["run"]["data"]
    natural_channels = model_info(name).input_size[0]
    adapts = "in_channels" in model_info(name).adapts
    assert data["in_channels"] == ((1 if dataset == "digits" else 3) if adapts else natural_channels)
    assert data["input_size"] == (size if name != "small_cnn" else {"digits": 8, "shapes": 32}[dataset])


def test_the_natural_size_is_the_default_and_image_size_is_honoured(tmp_path, capsys):
    out = tmp_path / "lenet"
    assert main(["train", "--model", "lenet5", "--dataset", "shapes", "--epochs", "1", "--subset", "16",
                 "--out", str(out), "--no-progress", "--json"]) == 0  # shapes are 32x32; LeNet-5 takes 28x28
    assert load_checkpoint(out / "last.ckpt")["run"]["data"]["input_size"] == 28
    out = tmp_path / "digits28"
    assert main(["train", "--model", "small_cnn", "--image-size", "28", "--epochs", "1", "--subset", "16",
                 "--out", str(out), "--no-progress", "--json"]) == 0
    state = load_checkpoint(out / "last.ckpt")
    assert state["run"]["data"]["input_size"] == 28 and state["run"]["resized"]
    capsys.readouterr()
    # predict converts an image the way the training data was converted, without --resize
    img = tmp_path / "digit.png"
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(img)
    assert main(["predict", str(out / "last.ckpt"), str(img), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["top"]) == 3
    assert main(["evaluate", str(out / "last.ckpt"), "--json"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


@pytest.mark.parametrize("argv,needles", [
    (["--model", "alexnet", "--image-size", "32"], ["alexnet cannot take 1x32x32", "at least 63x63",
                                                     "classifiers that take 32x32:", "vgg16", "(--image-size)"]),
    (["--model", "lenet5", "--image-size", "8"], ["lenet5 cannot take 1x8x8", "resnet18"]),
    (["--model", "conv_autoencoder"], ["reconstruction model", "(--model)"]),
    (["--model", "small_cnn", "--image-size", "10"], ["multiple of 4"]),
])
def test_a_size_the_model_cannot_take_is_refused_up_front(argv, needles, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *argv, "--epochs", "1", "--out", str(out), "--no-progress"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("cnnkit: error:")]
    assert len(err) == 1
    for needle in needles:
        assert needle in err[0], err[0]
    assert not out.exists()
