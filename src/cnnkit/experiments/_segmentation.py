"""Shared by the segmentation experiments: seeded shape scenes, one training run of a segmentation model with the
task-general Trainer, its test mean IoU, and masks drawn in colour."""

from __future__ import annotations

import time

import numpy as np

from ._common import CPUClock

# Colours of background, circle, square, triangle (and any further class) in the pictures.
PALETTE = np.array([[0.0, 0.0, 0.0], [0.90, 0.25, 0.20], [0.20, 0.60, 0.95], [0.95, 0.85, 0.20],
                    [0.40, 0.85, 0.40], [0.75, 0.40, 0.90]], dtype=np.float32)


def scenes(n_train: int, n_test: int, seed: int, batch_size: int = 16):
    """(train loader, test loader, DataInfo, test set) of seeded 64x64 ShapeScenes with masks."""
    from ..data import DataLoader
    from ..data.registry import DataInfo
    from ..data.synthetic import ShapeScenes

    train = ShapeScenes(n=n_train, size=64, seed=seed, train=True, target="mask")
    test = ShapeScenes(n=n_test, size=64, seed=seed, train=False, target="mask")
    classes = ("background", *ShapeScenes.classes)
    info = DataInfo(3, 64, len(classes), classes)
    return DataLoader(train, batch_size=batch_size, shuffle=True), DataLoader(test, batch_size=100), info, test


def train_segmenter(model, train_loader, test_loader, info, epochs: int, lr: float, seed: int) -> dict:
    """Adam at ``lr`` with a cosine schedule for ``epochs`` epochs (the seed fixes the batch order), then the test
    set: ``{"loss", "mean_iou", "pixel_accuracy"}`` per epoch, ``cpu_seconds``/``wall_seconds`` (cumulative),
    ``test_mean_iou``, ``test_pixel_accuracy``, ``test_iou`` (per class) and ``parameters``."""
    import cnnkit as ck

    from ..optim.factory import make_optimizer, make_schedule
    from ..training import Trainer

    ck.manual_seed(seed + 1)
    opt = make_optimizer("adam", model.parameters(), lr=lr)
    scheduler, per_batch = make_schedule("cosine", opt, epochs, len(train_loader))
    clock = CPUClock()
    trainer = Trainer(model, opt, task="segmentation", info=info, scheduler=scheduler,
                      scheduler_per_batch=per_batch, callbacks=[clock])
    history = trainer.fit(train_loader, None, epochs=epochs)
    test = trainer.evaluate(test_loader, report=True)
    iou = np.asarray(test["iou"], dtype=np.float64)
    out = {key: [float(v) for v in history[key]] for key in ("loss", "mean_iou", "pixel_accuracy")}
    out.update(cpu_seconds=clock.cpu, wall_seconds=clock.wall, test_mean_iou=float(np.nanmean(iou)),
               test_pixel_accuracy=float(test["pixel_accuracy"]), test_iou=[float(v) for v in iou],
               parameters=int(sum(p.numel() for p in model.parameters())))
    return out


def predict(model, images: np.ndarray) -> np.ndarray:
    """Class index per pixel (N, H, W) of a batch of images, in eval mode."""
    import cnnkit as ck

    model.eval()
    with ck.no_grad():
        return model(ck.tensor(images)).data.argmax(1)


def seconds_per_image(model, images: np.ndarray, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall seconds of one eval forward pass over ``images``, per image."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict(model, images)
        best = min(best, time.perf_counter() - start)
    return best / len(images)


def colour(mask: np.ndarray) -> np.ndarray:
    """An (H, W) class mask as an (H, W, 3) picture (:data:`PALETTE`; 255 = ignore drawn white)."""
    out = np.ones((*mask.shape, 3), dtype=np.float32)
    known = mask < len(PALETTE)
    out[known] = PALETTE[mask[known]]
    return out


def image(x: np.ndarray) -> np.ndarray:
    """A (3, H, W) image in [0, 1] as (H, W, 3) for plotting."""
    return np.clip(np.transpose(x, (1, 2, 0)), 0.0, 1.0)
