"""The segmentation workflow from the command line: `cnnkit train --task segmentation` writes the report (mean IoU,
pixel accuracy, per-class IoU) and the picture of test examples; `cnnkit segment` writes index-mask PNGs and
overlays for images of any size, and refuses bad input in one line (exit status 2)."""

import json
import time

import numpy as np
import pytest
from PIL import Image

import cnnkit.nn as nn
from cnnkit import models
from cnnkit.cli import main


def tiny_segmenter(num_classes=4, in_channels=3):
    """Scores at a quarter of the resolution, upsampled back: takes images of at least 4x4 pixels (a side that is not
    a multiple of 4 gives a smaller score map)."""
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                         nn.Conv2d(8, num_classes, 3, padding=1), nn.Upsample(scale_factor=4, mode="nearest"))


@pytest.fixture(scope="module")
def registered():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(models._REGISTRY, "tiny_segmenter", models.ModelInfo(
            tiny_segmenter, (3, 32, 32), "test segmenter", task="segmentation"))
        yield


@pytest.fixture(scope="module")
def run_dir(registered, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "run"
    code = main(["train", "--task", "segmentation", "--dataset", "shapes", "--model", "tiny_segmenter", "--epochs",
                 "1", "--subset", "64", "--augment", "--out", str(out), "--no-progress", "--json"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    for name, side in (("small", 64), ("large", 512), ("odd", 37), ("tiny", 3)):
        Image.fromarray((rng.random((side, side, 3)) * 255).astype(np.uint8)).save(folder / f"{name}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return folder


def test_segmentation_run_writes_report_and_examples(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["mean_iou"] <= 1 and 0 <= metrics["pixel_accuracy"] <= 1
    assert list(metrics["per_class_iou"]) == ["background", "circle", "square", "triangle"]
    assert (run_dir / "segmentation.png").is_file() and (run_dir / "curves.png").is_file()


def test_segment_writes_index_masks_and_overlays_at_any_size(run_dir, images, tmp_path, capsys):
    out = tmp_path / "out"
    files = [str(images / n) for n in ("small.png", "large.png", "odd.png")]
    assert main(["segment", str(run_dir / "best.ckpt"), *files, "--out", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    for r, side in zip(results, (64, 512, 37), strict=True):
        mask = np.asarray(Image.open(r["mask"]))
        assert mask.shape == (side, side) and mask.max() < 4
        assert Image.open(r["overlay"]).size == (side, side)
        areas = r["areas"]
        assert sum(a["pixels"] for a in areas.values()) == side * side
        assert sum(a["fraction"] for a in areas.values()) == pytest.approx(1.0, abs=1e-4)
        assert areas["circle"]["pixels"] == int((mask == 1).sum())
    assert results[0]["seconds"] < 0.2
    assert main(["segment", str(run_dir / "best.ckpt"), files[0], "--out", str(out)]) == 0
    assert "small.png (64x64):" in capsys.readouterr().out


def test_segment_in_process_time_on_64x64(run_dir, images, tmp_path):
    from cnnkit.runs import load_run, segment_images

    loaded = load_run(run_dir / "best.ckpt")
    segment_images(loaded, [images / "small.png"], tmp_path)  # warm-up
    start = time.perf_counter()
    segment_images(loaded, [images / "small.png"], tmp_path)
    assert time.perf_counter() - start < 0.2


@pytest.mark.parametrize("name, message", [
    ("tiny.png", "is a 3x3 image, smaller than the 4x4 pixels model tiny_segmenter needs"),
    ("broken.png", "cannot read"),
])
def test_segment_bad_images_are_one_line(run_dir, images, tmp_path, capsys, name, message):
    assert main(["segment", str(run_dir / "best.ckpt"), str(images / name), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_segment_refuses_a_classification_checkpoint(images, tmp_path, capsys):
    run = tmp_path / "cls"
    assert main(["train", "--epochs", "1", "--subset", "50", "--out", str(run), "--no-progress", "--json"]) == 0
    capsys.readouterr()
    assert main(["segment", str(run / "best.ckpt"), str(images / "small.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is a classification checkpoint; segmenting images needs a segmentation one" in err
    assert err.count("\n") == 1


def test_images_a_network_cannot_take_as_they_are_are_padded_to_a_multiple():
    import cnnkit as ck
    from cnnkit.runs import _segment_one

    class Even(nn.Module):  # adds a pooled-and-upsampled copy: only even sides line up
        def __init__(self):
            super().__init__()
            self.score = nn.Conv2d(3, 2, 1)
            self.pool, self.up = nn.MaxPool2d(2), nn.Upsample(scale_factor=2)

        def forward(self, x):
            s = self.score(x)
            return s + self.up(self.pool(s))

    model = Even().eval()
    image = np.random.default_rng(0).random((3, 9, 7)).astype(np.float32)
    with pytest.raises(ValueError):
        model(ck.tensor(image[None]))
    scores = _segment_one(model, image, "x.png", "even")
    assert scores.shape == (2, 9, 7)
    padded = np.pad(image, ((0, 0), (0, 1), (0, 1)), mode="edge")[None]
    np.testing.assert_allclose(scores, model(ck.tensor(padded)).numpy()[0, :, :9, :7], rtol=1e-6)
