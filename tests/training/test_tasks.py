"""One Trainer for every task: classification, segmentation and reconstruction train and evaluate through the
same loop, with streaming metrics (no outputs kept)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import optim
from cnnkit.data import ArrayDataset, DataLoader, Shapes
from cnnkit.data.registry import Columns, DataInfo
from cnnkit.training import ClassificationTask, ReconstructionTask, SegmentationTask, Trainer, get_task


def _fit(model, task, train, val, epochs, lr=1e-2, info=None, checkpoint_dir=None):
    opt = optim.Adam(model.parameters(), lr=lr)
    trainer = Trainer(model, opt, task=task, info=info, checkpoint_dir=checkpoint_dir)
    return trainer, trainer.fit(train, val, epochs=epochs)


def test_classification():
    ck.manual_seed(0)
    images, labels = ck.data.Digits(train=True).arrays()
    loader = DataLoader(ArrayDataset(images[:512], labels[:512]), batch_size=32, shuffle=True)
    val = DataLoader(ArrayDataset(images[512:768], labels[512:768]), batch_size=128)
    model = ck.models.small_cnn(num_classes=10, in_channels=1, input_size=8, width=8)
    trainer, history = _fit(model, "classification", loader, val, epochs=4)
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(history.keys())
    assert history["val_accuracy"][-1] > 0.8
    report = trainer.evaluate(val, report=True)
    cm = report["confusion_matrix"]
    assert cm.shape == (10, 10) and cm.sum() == 256
    assert report["accuracy"] == pytest.approx(np.trace(cm) / 256)


class _TinySegmenter(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                                  nn.ReLU(), nn.Conv2d(16, classes, 1))

    def forward(self, x):
        return self.body(x)


def test_segmentation_trains_and_monitors_mean_iou(tmp_path):
    ck.manual_seed(0)
    train = Columns(Shapes(n=192, size=16, seed=0, with_masks=True), (0, 2))
    val = Columns(Shapes(n=64, size=16, seed=0, train=False, with_masks=True), (0, 2))
    info = DataInfo(3, 16, 4, ("background", "circle", "square", "triangle"))
    trainer, history = _fit(_TinySegmenter(), "segmentation", DataLoader(train, batch_size=16, shuffle=True),
                            DataLoader(val, batch_size=64), epochs=6, info=info, checkpoint_dir=tmp_path)
    assert {"loss", "pixel_accuracy", "mean_iou", "val_pixel_accuracy", "val_mean_iou"} <= set(history.keys())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_pixel_accuracy"][-1] > 0.8
    assert trainer.monitor == "val_mean_iou" and trainer.checkpoint.mode == "max"
    best = max(history["val_mean_iou"])
    assert ck.training.load_checkpoint(tmp_path / "best.ckpt")["history"]["epochs"][-1]["val_mean_iou"] == best
    report = trainer.evaluate(DataLoader(val, batch_size=64), report=True)
    assert report["iou"].shape == (4,)
    assert np.nanmean(report["iou"]) == pytest.approx(history["val_mean_iou"][-1])


def test_segmentation_ignores_255_pixels():
    task = SegmentationTask()
    x = ck.tensor(np.zeros((1, 3, 2, 2), np.float32))
    logits = ck.tensor(np.array([[[[5.0, 0], [0, 0]], [[0, 5.0], [5.0, 5.0]]]], np.float32))
    mask = ck.tensor(np.array([[[0, 255], [1, 255]]]))
    inputs, targets = task.unpack((x, mask))
    metrics = task.metrics(DataInfo(3, 2, 2))
    for m in metrics.values():
        m.update(logits.numpy(), targets.numpy())
    assert metrics["pixel_accuracy"].compute() == 1.0
    loss = task.default_loss(logits, targets)
    expected = ck.functional.cross_entropy(logits, ck.tensor(np.array([[[0, 0], [1, 1]]])), reduction="none")
    assert loss.item() == pytest.approx(float(expected.numpy()[0, [0, 1], [0, 0]].mean()))


def test_segmentation_masks_must_match_images():
    with pytest.raises(ck.InputError, match=r"masks must be \(N, H, W\)"):
        SegmentationTask().unpack((ck.zeros(2, 3, 8, 8), ck.zeros(2, 8, 7, dtype="int64")))


class _TinyAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1),
                                     nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_reconstruction(noise):
    ck.manual_seed(0)
    images, labels = ck.data.Digits(train=True).arrays()
    loader = DataLoader(ArrayDataset(images[:512], labels[:512]), batch_size=32, shuffle=True)
    val = DataLoader(ArrayDataset(images[512:640], labels[512:640]), batch_size=128)
    trainer, history = _fit(_TinyAutoencoder(), ReconstructionTask(noise=noise), loader, val, epochs=5)
    assert {"loss", "mse", "psnr", "val_loss", "val_mse", "val_psnr"} <= set(history.keys())
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    assert history["val_psnr"][-1] == pytest.approx(10 * np.log10(1 / history["val_mse"][-1]))
    assert history["val_mse"][-1] == pytest.approx(history["val_loss"][-1], rel=1e-5)


def test_denoising_adds_noise_to_the_input_only():
    ck.manual_seed(1)
    clean = ck.tensor(np.full((2, 1, 4, 4), 0.5, np.float32))
    noisy, target = ReconstructionTask(noise=0.1).unpack((clean, ck.zeros(2, dtype="int64")))
    assert target is clean and not np.allclose(noisy.numpy(), clean.numpy())
    assert noisy.numpy().min() >= 0 and noisy.numpy().max() <= 1


def test_reconstruction_bce_loss_is_binary_cross_entropy():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.05, 0.95, (2, 1, 4, 4)).astype(np.float64)
    t = rng.uniform(0, 1, (2, 1, 4, 4)).astype(np.float64)
    loss = ReconstructionTask(loss="bce").default_loss(ck.tensor(y), ck.tensor(t))
    assert loss.item() == pytest.approx(float(-(t * np.log(y) + (1 - t) * np.log(1 - y)).mean()), rel=1e-9)
    assert ReconstructionTask().default_loss(ck.tensor(y), ck.tensor(t)).item() == pytest.approx(((y - t) ** 2).mean())
    with pytest.raises(ck.InputError, match="loss must be 'mse' or 'bce'"):
        ReconstructionTask(loss="l1")


def test_segmentation_examples_show_the_model_on_labelled_items_first():
    masks = np.zeros((6, 4, 4), np.int64)
    masks[3, 1, 1], masks[5, 0, :] = 2, 255  # only item 3 has an object pixel; item 5 has ignored pixels only
    data = [(np.full((1, 4, 4), i, np.float32), masks[i]) for i in range(6)]
    model = nn.Conv2d(1, 3, 1)
    info = DataInfo(1, 4, 3, ("background", "a", "b"))
    (figure,) = SegmentationTask().examples(model, data, info, count=3)
    assert figure.kind == "segmentation" and figure.data["classes"] == ["background", "a", "b"]
    np.testing.assert_array_equal(figure.data["truths"], masks[[3, 0, 1]])
    np.testing.assert_array_equal(figure.data["images"][:, 0, 0, 0], [3, 0, 1])
    expected = model(ck.tensor(figure.data["images"])).numpy().argmax(1)
    np.testing.assert_array_equal(figure.data["predictions"], expected)


def test_unknown_task():
    with pytest.raises(ck.InputError, match="unknown task 'counting'"):
        get_task("counting")
    assert isinstance(get_task("classification"), ClassificationTask)


_EVAL_MEMORY = """
import json, resource, sys
import numpy as np
import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.data import DataLoader, Dataset
from cnnkit.data.registry import DataInfo
from cnnkit.training import Trainer

class Synthetic(Dataset):   # 10,000 images made on demand: the data itself takes no memory
    def __len__(self):
        return 10_000
    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        return rng.random((3, 64, 64), dtype=np.float32), rng.integers(0, 4, (64, 64))

def peak_kib():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])

model = nn.Conv2d(3, 4, 1)
trainer = Trainer(model, ck.optim.SGD(model.parameters(), lr=0.1), task="segmentation", info=DataInfo(3, 64, 4))
loader = DataLoader(Synthetic(), batch_size=100)
trainer.evaluate(DataLoader(Synthetic(), batch_size=100, sampler=range(200)))  # warm up: first batches, buffers
before = peak_kib()
results = trainer.evaluate(loader, report=True)
print(json.dumps({"growth_kib": peak_kib() - before, "pixel_accuracy": results["pixel_accuracy"],
                  "iou": results["iou"].tolist()}))
"""


@pytest.mark.slow
def test_evaluating_10000_segmentation_images_keeps_memory_flat():
    done = subprocess.run([sys.executable, "-c", _EVAL_MEMORY], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # the outputs alone would take 10,000 x 4 x 64 x 64 x 4 bytes = 625 MiB if they were kept
    assert result["growth_kib"] < 50 * 1024, result
    assert 0.15 < result["pixel_accuracy"] < 0.35 and len(result["iou"]) == 4
