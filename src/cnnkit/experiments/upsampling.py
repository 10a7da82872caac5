"""``cnnkit experiment upsampling``: the four ways a decoder can double a feature map, in the same SegNet-style
encoder-decoder (no skip connections, so the upsampling alone rebuilds the resolution), on the same shape scenes
and budget. Nearest neighbour and bilinear interpolation have no parameters; a transposed convolution learns its
upsampling; max-unpooling puts each value back where the encoder's max pool found it (SegNet), keeping the
positions of the edges. Reported: test mean IoU, parameters, inference time per image, and one picture.
"""

from __future__ import annotations

from pathlib import Path

from ._segmentation import colour, image, predict, scenes, seconds_per_image, train_segmenter

MODES = ("nearest", "bilinear", "transpose", "unpool")


def run(out: Path, epochs: int = 4, seed: int = 0, n_train: int = 3000, n_test: int = 300, lr: float = 3e-3,
        batch_size: int = 16, widths=(16, 32, 64), examples: int = 4) -> dict:
    """Train :func:`cnnkit.models.encoder_decoder` with each upsampling from the same seed, Adam + cosine at
    ``lr`` for ``epochs`` epochs on ``n_train`` scenes; test mean IoU, parameters and seconds per test image of
    each, and a picture of ``examples`` test scenes: image, truth and each method's mask."""
    import cnnkit as ck

    from .. import viz
    from ..models import encoder_decoder

    train_loader, test_loader, info, test = scenes(n_train, n_test, seed, batch_size)
    runs, predictions = {}, {}
    shown = test.data[:examples]
    timed = test.data[:min(len(test), 64)]
    for mode in MODES:
        ck.manual_seed(seed)
        model = encoder_decoder(info.in_channels, info.num_classes, widths=tuple(widths), up=mode)
        runs[mode] = train_segmenter(model, train_loader, test_loader, info, epochs, lr, seed)
        runs[mode]["seconds_per_image"] = seconds_per_image(model, timed)
        predictions[mode] = predict(model, shown)
    rows = {}
    for i in range(len(shown)):
        cells = [("image", image(shown[i])), ("truth", colour(test.masks[i]))]
        cells += [(f"{m} IoU {runs[m]['test_mean_iou']:.2f}", colour(predictions[m][i])) for m in MODES]
        rows[f"scene {i}"] = cells
    viz.plot_image_rows(rows, out / "upsampling.png",
                        title="Decoder upsampling: nearest, bilinear, transposed conv, max-unpooling (test masks)")
    table = {m: {"test_mean_iou": r["test_mean_iou"], "parameters": r["parameters"],
                 "ms_per_image": 1000 * r["seconds_per_image"]} for m, r in runs.items()}
    best = max(table, key=lambda m: table[m]["test_mean_iou"])
    summary = "; ".join(f"{m}: mIoU {t['test_mean_iou']:.3f}, {t['parameters']:,} params, "
                        f"{t['ms_per_image']:.2f} ms/image" for m, t in table.items())
    return {"experiment": "upsampling", "epochs": epochs, "seed": seed, "n_train": n_train, "n_test": n_test,
            "lr": lr, "widths": list(widths), "runs": runs, "table": table, "best": best,
            "files": ["upsampling.png", "upsampling.json"],
            "message": f"upsampling (test set, {epochs} epochs on {n_train} scenes): {summary}. Best: {best}; "
                       f"picture in {out}"}
