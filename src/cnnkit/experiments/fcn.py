"""``cnnkit experiment fcn``: FCN-32s vs FCN-16s vs FCN-8s (Long et al., 2015) on the same shape scenes, the same
budget and the same initial backbone. FCN-32s upsamples class scores from stride 32 in one step, so its masks are
blobs; FCN-16s adds scores from pool4 (stride 16) and FCN-8s also from pool3 (stride 8): each skip brings finer
detail back, and the test mean IoU rises from 32s to 16s to 8s. One picture shows their masks side by side.
"""

from __future__ import annotations

from pathlib import Path

from ._segmentation import colour, image, predict, scenes, train_segmenter

VARIANTS = ("fcn32s_small", "fcn16s_small", "fcn8s_small")


def run(out: Path, epochs: int = 4, seed: int = 0, n_train: int = 3000, n_test: int = 300, lr: float = 3e-3,
        batch_size: int = 16, examples: int = 4) -> dict:
    """Train the three small FCNs from the same seed (the same backbone weights: the skip score layers start at
    zero) with Adam + cosine at ``lr`` for ``epochs`` epochs on ``n_train`` scenes; test mean IoU of each and a
    picture of ``examples`` test scenes: image, truth, 32s, 16s, 8s."""
    import cnnkit as ck

    from .. import viz
    from ..models import build_model

    train_loader, test_loader, info, test = scenes(n_train, n_test, seed, batch_size)
    runs, predictions = {}, {}
    shown = test.data[:examples]
    for name in VARIANTS:
        ck.manual_seed(seed)
        model = build_model(name, num_classes=info.num_classes, in_channels=info.in_channels)
        runs[name] = train_segmenter(model, train_loader, test_loader, info, epochs, lr, seed)
        predictions[name] = predict(model, shown)
    rows = {}
    for i in range(len(shown)):
        cells = [("image", image(shown[i])), ("truth", colour(test.masks[i]))]
        cells += [(f"{n[3:-6]} IoU {runs[n]['test_mean_iou']:.2f}", colour(predictions[n][i]))
                  for n in VARIANTS]
        rows[f"scene {i}"] = cells
    viz.plot_image_rows(rows, out / "fcn.png", title="FCN-32s, -16s, -8s: test masks (mean IoU on the test set)")
    miou = {n: r["test_mean_iou"] for n, r in runs.items()}
    finer_is_better = miou["fcn8s_small"] > miou["fcn32s_small"]
    summary = "; ".join(f"{n}: mIoU {v:.3f}" for n, v in miou.items())
    return {"experiment": "fcn", "epochs": epochs, "seed": seed, "n_train": n_train, "n_test": n_test, "lr": lr,
            "runs": runs, "test_mean_iou": miou, "fcn8s_beats_fcn32s": finer_is_better,
            "files": ["fcn.png", "fcn.json"],
            "message": f"fcn (test set, {epochs} epochs on {n_train} scenes): {summary}. FCN-8s "
                       f"{'beats' if finer_is_better else 'does not beat'} FCN-32s; picture in {out}"}
