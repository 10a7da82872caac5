"""The segmentation image folder: images/ + masks/ (index or palette PNGs, 255 = ignore)."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.data import TransformDataset
from cnnkit.data.registry import load_dataset
from cnnkit.data.segmentation import SegmentationFolder
from cnnkit.errors import InputError


def _palette_png(path, mask):
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9)
    palette[255 * 3:255 * 3 + 3] = [224, 224, 192]
    im.putpalette(palette)
    im.save(path)


def make_folder(root, n=3, size=(12, 10), classes=2, palette=True, seed=0):
    """``n`` RGB images of size (H, W) with masks holding 0..classes and a 255 border."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    masks = []
    for i in range(n):
        h, w = size
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(root / "images" / f"im{i}.png")
        mask = rng.integers(0, classes + 1, (h, w))
        mask[0, :] = 255
        masks.append(mask)
        if palette:
            _palette_png(root / "masks" / f"im{i}.png", mask)
        else:
            Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "masks" / f"im{i}.png")
    return masks


@pytest.mark.parametrize("palette", [True, False])
def test_reads_palette_and_grey_masks_as_indices(tmp_path, palette):
    masks = make_folder(tmp_path, palette=palette)
    ds = SegmentationFolder(tmp_path)
    assert len(ds) == 3 and ds.classes == ("background", "class 1", "class 2")
    image, mask = ds[1]
    assert image.shape == (3, 12, 10) and image.dtype == np.float32
    assert mask.dtype == np.int64
    np.testing.assert_array_equal(mask, masks[1])


def test_resize_uses_nearest_for_masks(tmp_path):
    make_folder(tmp_path, size=(10, 10))
    image, mask = SegmentationFolder(tmp_path, size=20)[0]
    assert image.shape == (3, 20, 20) and mask.shape == (20, 20)
    assert set(np.unique(mask)) <= {0, 1, 2, 255}


def test_mask_size_differs_from_image(tmp_path):
    make_folder(tmp_path)
    _palette_png(tmp_path / "masks" / "im2.png", np.zeros((12, 9), np.uint8))
    with pytest.raises(InputError, match=r"im2.png: the mask is 9x12 but its image im2.png is 10x12"):
        SegmentationFolder(tmp_path)


def test_mask_value_outside_the_classes(tmp_path):
    masks = make_folder(tmp_path, classes=3)
    bad = masks[0].copy()
    with pytest.raises(InputError, match=r"im0.png: mask value 3 is outside the 3 classes \(0..2: bg, a, b; 255"):
        SegmentationFolder(tmp_path, classes=("bg", "a", "b"))
    assert (bad == 3).any()


def test_missing_mask_and_colour_masks_are_refused(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "masks" / "im1.png").unlink()
    with pytest.raises(InputError, match="im1.png has no mask"):
        SegmentationFolder(tmp_path)
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(tmp_path / "masks" / "im1.png")
    with pytest.raises(InputError, match="RGB image; a mask must be an index image"):
        SegmentationFolder(tmp_path)


def test_registry_folder_serves_segmentation_with_joint_augmentation(tmp_path):
    make_folder(tmp_path / "train", n=4, size=(16, 16))
    make_folder(tmp_path / "test", n=2, size=(16, 16), seed=1)
    (tmp_path / "classes.txt").write_text("background\ncircle\nsquare\n")
    bundle = load_dataset("folder", "segmentation", data_dir=tmp_path, image_size=16)
    assert bundle.info.classes == ("background", "circle", "square") and bundle.info.num_classes == 3
    assert bundle.info.input_size == 16 and len(bundle.train) == 4 and len(bundle.test) == 2
    augmented = TransformDataset(bundle.train, bundle.augmentation())
    image, mask = augmented[0]
    assert image.shape == (3, 16, 16) and mask.shape == (16, 16)
    assert set(np.unique(mask)) <= {0, 1, 2, 255}


@pytest.mark.parametrize("problem, message", [
    ("none", ""),
    ("size", "the mask is 9x16 but its image im1.png is 16x16 (width x height)"),
    ("value", "mask value 3 is outside the 3 classes (0..2: background, circle, square; 255 = ignore)"),
])
def test_cli_reports_bad_masks_in_one_line(tmp_path, capsys, monkeypatch, problem, message):
    import cnnkit.nn as nn
    from cnnkit import models
    from cnnkit.cli import main

    monkeypatch.setitem(models._REGISTRY, "pixel_classifier", models.ModelInfo(
        lambda num_classes, in_channels: nn.Conv2d(in_channels, num_classes, 1), (3, 16, 16), "1x1 conv",
        task="segmentation"))
    make_folder(tmp_path / "train", n=4, size=(16, 16))
    make_folder(tmp_path / "test", n=2, size=(16, 16), seed=1)
    (tmp_path / "classes.txt").write_text("background\ncircle\nsquare\n")
    if problem != "none":
        bad = np.zeros((16, 9), np.uint8) if problem == "size" else np.full((16, 16), 3, np.uint8)
        _palette_png(tmp_path / "test" / "masks" / "im1.png", bad)
    code = main(["train", "--task", "segmentation", "--dataset", "folder", "--data-dir", str(tmp_path),
                 "--model", "pixel_classifier", "--epochs", "1", "--val-fraction", "0.5", "--out",
                 str(tmp_path / "run")])
    err = capsys.readouterr().err
    if problem == "none":  # a good folder trains at its images' size (16 here) and writes the segmentation report
        assert code == 0, err
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert list(metrics["per_class_iou"]) == ["background", "circle", "square"]
        assert (tmp_path / "run" / "segmentation.png").is_file()
        from cnnkit.runs import load_run

        assert load_run(tmp_path / "run" / "best.ckpt").info.input_size == 16
        return
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
