"""Datasets: IDX and CIFAR readers, MNIST/CIFAR10, Digits, ImageFolder, Shapes, splits and array datasets."""

from __future__ import annotations

import gzip
import pickle
import warnings

import numpy as np
import pytest
from data.datahelpers import cifar_archive, cifar_batch_bytes, idx_bytes, write_mnist
from PIL import Image

import cnnkit as ck
from cnnkit.data import (
    CIFAR10,
    MNIST,
    ArrayDataset,
    ConcatDataset,
    DataLoader,
    Digits,
    FashionMNIST,
    ImageFolder,
    Shapes,
    Subset,
    TensorDataset,
    TransformDataset,
    extract_archive,
    random_split,
    read_cifar_batch,
    read_idx,
    train_val_split,
    write_idx,
)
from cnnkit.data.dataset import DatasetError
from cnnkit.data.digits import DIGITS_SPLIT_SEED, load_digits_file, stratified_split


# ------------------------------------------------------------------------------------ IDX
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    arr = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = tmp_path / f"x.idx{suffix}"
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_idx_reads_big_endian_values(tmp_path):
    (tmp_path / "v").write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + b"\x00\x00\x01\x00\xff\xff\xff\xfe")
    np.testing.assert_array_equal(read_idx(tmp_path / "v"), [256, -2])


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "shorter than the 4-byte IDX header"),
        (b"\x1f\x8b\x08\x03" + bytes(8), "not an IDX file: magic number 0x1f8b0803"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "unknown IDX dtype code 0x07"),
        (bytes([0, 0, 0x08, 0]), "0 dimensions"),
        (bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0]), "truncated inside its header"),
        (bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3]), r"truncated: dims \(2, 3\) of uint8 need 6 bytes"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 2, 1, 2, 3]), "1 unexpected trailing bytes"),
    ],
)
def test_idx_corrupt_headers_give_clear_errors(tmp_path, raw, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_bad_gzip_and_missing_file(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="not a readable gzip file"):
        read_idx(tmp_path / "x.gz")
    full = gzip.compress(idx_bytes(np.zeros((4, 4), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(DatasetError, match="cut.gz"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(FileNotFoundError, match="nope"):
        read_idx(tmp_path / "nope")


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(TypeError, match="IDX cannot store"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.float32(1.0))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ MNIST
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_idx_files(tmp_path, gz):
    _, (tr_x, tr_y, te_x, te_y) = write_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    train = MNIST(tmp_path)
    assert train.data.shape == (12, 1, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(train.targets, tr_y)
    image, label = train[3]
    assert image.dtype == np.float32 and image.shape == (1, 28, 28) and isinstance(label, int)
    np.testing.assert_array_equal(image[0], tr_x[3].astype(np.float32) / 255)
    assert 0.0 <= image.min() and image.max() <= 1.0
    test = MNIST(str(tmp_path), train=False, transform=lambda x: x * 2, target_transform=lambda y: y + 100)
    assert len(test) == 7 and test[0][1] == te_y[0] + 100
    np.testing.assert_allclose(test[0][0][0], te_x[0] / 255 * 2, rtol=1e-6)
    assert train.classes[0] == "0 - zero" and train.class_to_idx["9 - nine"] == 9


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError, match="FashionMNIST"):
        FashionMNIST(tmp_path, train=False)


def test_mnist_wrong_dims_and_mismatched_counts(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw, gz=False)
    (raw / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((12, 784), np.uint8)))
    with pytest.raises(DatasetError, match=r"uint8 images \(N, H, W\), got uint8 of shape \(12, 784\)"):
        MNIST(tmp_path)
    (raw / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((11, 28, 28), np.uint8)))
    with pytest.raises(DatasetError, match="11 images but"):
        MNIST(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(7, 12, np.uint8)))
    with pytest.raises(DatasetError, match="labels 12..12"):
        MNIST(tmp_path, train=False)


def test_mnist_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="root"):
        MNIST(123)
    with pytest.raises(TypeError, match="train"):
        MNIST(tmp_path, train="yes")
    with pytest.raises(TypeError, match="transform"):
        MNIST(tmp_path, transform=3)


def test_fashion_mnist_has_its_classes(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw")
    ds = FashionMNIST(tmp_path)
    assert ds.classes[9] == "Ankle boot" and len(ds) == 12


# ------------------------------------------------------------------------------------ CIFAR
@pytest.mark.parametrize("bytes_keys", [False, True])
def test_read_cifar_batch(tmp_path, bytes_keys):
    raw, data, labels = cifar_batch_bytes(5, seed=3, bytes_keys=bytes_keys)
    (tmp_path / "data_batch_1").write_bytes(raw)
    images, targets = read_cifar_batch(tmp_path / "data_batch_1")
    assert images.shape == (5, 3, 32, 32) and images.dtype == np.uint8 and targets.dtype == np.int64
    np.testing.assert_array_equal(images[2, 1], data[2, 1024:2048].reshape(32, 32))  # channel-major planes
    assert targets.tolist() == labels


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo should-not-run",))


def test_cifar_reader_refuses_code_and_bad_content(tmp_path):
    (tmp_path / "evil").write_bytes(pickle.dumps({"data": _Evil(), "labels": []}, protocol=2))
    with pytest.raises(DatasetError, match="refusing to load the global"):
        read_cifar_batch(tmp_path / "evil")
    (tmp_path / "junk").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DatasetError, match="not a readable CIFAR pickle"):
        read_cifar_batch(tmp_path / "junk")
    (tmp_path / "shape").write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))
    with pytest.raises(DatasetError, match=r"expected data of shape \(N, 3072\) uint8"):
        read_cifar_batch(tmp_path / "shape")
    (tmp_path / "count").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}))
    with pytest.raises(DatasetError, match="2 images but 1 labels"):
        read_cifar_batch(tmp_path / "count")
    (tmp_path / "keys").write_bytes(pickle.dumps({"pixels": 1}))
    with pytest.raises(DatasetError, match="lacks 'data'"):
        read_cifar_batch(tmp_path / "keys")
    (tmp_path / "range").write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [10]}))
    with pytest.raises(DatasetError, match=r"labels must lie in \[0, 10\)"):
        read_cifar_batch(tmp_path / "range")


def test_cifar10_from_extracted_batches(tmp_path):
    archive, contents = cifar_archive(n_per_batch=2)
    (tmp_path / "c.tar.gz").write_bytes(archive)
    extract_archive(tmp_path / "c.tar.gz", tmp_path)
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert len(train) == 10 and len(test) == 2 and train.classes[0] == "airplane"
    image, label = test[1]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32 and label == contents["test_batch"][1][1]
    np.testing.assert_array_equal(image.reshape(-1), contents["test_batch"][0][1].astype(np.float32) / 255)
    images, labels = train.arrays()
    assert images.shape == (10, 3, 32, 32) and images.dtype == np.float32 and labels.dtype == np.int64


def test_cifar10_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        CIFAR10(tmp_path)
    msg = str(info.value)
    assert "data_batch_1" in msg and "cifar-10-python.tar.gz" in msg and "download=True" in msg
    assert str(tmp_path / "cifar-10-batches-py") in msg


# ------------------------------------------------------------------------------------ Digits
def test_digits_sizes_histogram_and_range():
    train, test = Digits(), Digits(train=False)
    assert len(train) == 1437 and len(test) == 360 and len(train) + len(test) == 1797
    full = load_digits_file()
    assert full["images"].shape == (1797, 8, 8) and full["images"].dtype == np.uint8
    assert full["labels"].dtype == np.int64 and full["images"].max() == 16 and full["images"].min() == 0
    hist = np.bincount(full["labels"], minlength=10)
    assert hist.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    test_hist = np.bincount(test.targets, minlength=10)
    assert test_hist.min() >= 35 and test_hist.max() <= 37  # stratified: about 20% of each class
    assert np.array_equal(np.bincount(train.targets) + test_hist, hist)
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == np.float32 and isinstance(label, int)
    x, y = train.arrays()
    assert x.shape == (1437, 1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, train.data)
    assert train.classes == [str(d) for d in range(10)] and train.data.dtype == np.uint8


def test_digits_split_is_fixed_and_independent_of_the_global_seed():
    ck.manual_seed(123)
    a = Digits(train=False).targets
    ck.manual_seed(7)
    b = Digits(train=False).targets
    np.testing.assert_array_equal(a, b)
    full = load_digits_file()
    recomputed = stratified_split(full["labels"], 360, DIGITS_SPLIT_SEED)
    np.testing.assert_array_equal(recomputed, full["is_test"])


def test_digits_transforms_and_index_errors():
    ds = Digits(transform=lambda x: x[:, ::-1], target_transform=str)
    image, label = ds[-1]
    assert isinstance(label, str) and image.shape == (1, 8, 8)
    with pytest.raises(IndexError, match="out of range"):
        ds[1437]
    with pytest.raises(TypeError, match="index must be an int"):
        ds[1.5]


def test_digits_are_real_handwriting():
    """Mean images of the classes differ and a nearest-class-mean classifier beats chance by far."""
    x, y = Digits().arrays()
    xt, yt = Digits(train=False).arrays()
    means = np.stack([x[y == c].mean(0) for c in range(10)]).reshape(10, -1)
    pred = np.argmin(((xt.reshape(len(xt), 1, -1) - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == yt).mean() > 0.85


# ------------------------------------------------------------------------------------ ImageFolder
def _write_png(path, size=(6, 5), mode="RGB", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    arr = (np.arange(np.prod(shape)).reshape(shape) * 7 + value) % 256
    Image.fromarray(arr.astype(np.uint8), mode).save(path)
    return arr.astype(np.uint8)


def test_image_folder_classes_samples_and_pixels(tmp_path):
    cat = _write_png(tmp_path / "cat" / "b.png")
    _write_png(tmp_path / "cat" / "a.PNG")
    _write_png(tmp_path / "dog" / "sub" / "x.bmp", value=3)
    Image.fromarray(np.full((6, 5, 3), 128, np.uint8)).save(tmp_path / "dog" / "y.jpg", quality=95)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [(p.relative_to(tmp_path).as_posix(), c) for p, c in ds.samples] == [
        ("cat/a.PNG", 0),
        ("cat/b.png", 0),
        ("dog/y.jpg", 1),
        ("dog/sub/x.bmp", 1),
    ]
    assert ds.targets == [0, 0, 1, 1] and len(ds) == 4
    image, label = ds[1]
    assert image.shape == (3, 6, 5) and image.dtype == np.float32 and label == 0
    np.testing.assert_array_equal(image, cat.transpose(2, 0, 1).astype(np.float32) / 255)
    assert abs(float(ds[2][0].mean()) - 128 / 255) < 0.02


def test_image_folder_modes_and_resize(tmp_path):
    gray = _write_png(tmp_path / "a" / "g.png", mode="L")
    _write_png(tmp_path / "b" / "c.png", size=(9, 4))
    assert ImageFolder(tmp_path)[0][0].shape == (3, 6, 5)  # grayscale becomes RGB by default
    as_l = ImageFolder(tmp_path, mode="L")
    np.testing.assert_array_equal(as_l[0][0][0], gray.astype(np.float32) / 255)
    assert as_l[1][0].shape == (1, 9, 4)
    natural = ImageFolder(tmp_path, mode=None)
    assert natural[0][0].shape == (1, 6, 5) and natural[1][0].shape == (3, 9, 4)
    sized = ImageFolder(tmp_path, size=(8, 8))
    x, y = next(iter(DataLoader(sized, batch_size=2)))
    assert x.shape == (2, 3, 8, 8) and y.tolist() == [0, 1]


def test_image_folder_16_bit_grayscale(tmp_path):
    deep = (np.arange(20).reshape(4, 5) * 3000).astype(np.uint16)
    (tmp_path / "a").mkdir()
    Image.fromarray(deep).save(tmp_path / "a" / "deep.png")
    x = ImageFolder(tmp_path, mode=None)[0][0]
    assert x.shape == (1, 4, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], deep / 65535, rtol=1e-6)
    rgb = ImageFolder(tmp_path, size=(8, 10))[0][0]
    assert rgb.shape == (3, 8, 10) and 0 <= rgb.min() and rgb.max() <= 1


def test_image_folder_mismatched_sizes_fail_at_collate(tmp_path):
    _write_png(tmp_path / "a" / "1.png", size=(6, 5))
    _write_png(tmp_path / "b" / "2.png", size=(7, 5))
    with pytest.raises(ValueError, match=r"different shapes: item 0 has \(3, 6, 5\), item 1 has \(3, 7, 5\)"):
        next(iter(DataLoader(ImageFolder(tmp_path), batch_size=2)))


def test_image_folder_unreadable_file(tmp_path):
    _write_png(tmp_path / "a" / "good.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    ds = ImageFolder(tmp_path)
    with pytest.raises(DatasetError, match=r"cannot read image .*broken\.png"):
        ds[0]
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable file\(s\): .*broken\.png"):
        skipping = ImageFolder(tmp_path, on_error="skip")
    assert len(skipping) == 1 and skipping[0][0].shape == (3, 6, 5)


def test_image_folder_empty_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="root folder not found"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no class folders"):
        ImageFolder(tmp_path)
    (tmp_path / "empty").mkdir()
    _write_png(tmp_path / "full" / "x.png")
    with pytest.raises(FileNotFoundError, match=r"no image files .* for the classes \['empty'\]"):
        ImageFolder(tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        ImageFolder(tmp_path, on_error="ignore")
    with pytest.raises(ValueError, match="mode"):
        ImageFolder(tmp_path, mode="CMYK")
    with pytest.raises(ValueError, match="size"):
        ImageFolder(tmp_path, size=(0, 3))


def test_image_folder_skip_with_nothing_readable(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match="no readable image"):
            ImageFolder(tmp_path, on_error="skip")


# ------------------------------------------------------------------------------------ Shapes
def test_shapes_deterministic_and_seed_dependent():
    a, b = Shapes(n=40, size=24, seed=3), Shapes(n=40, size=24, seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.data, Shapes(n=40, size=24, seed=4).data)
    assert not np.array_equal(a.data, Shapes(n=40, size=24, seed=3, train=False).data)
    ck.manual_seed(99)  # the global generator plays no part
    np.testing.assert_array_equal(a.data, Shapes(n=40, size=24, seed=3).data)


def test_shapes_items_masks_and_boxes_agree():
    ds = Shapes(n=60, size=32, seed=1, with_masks=True, with_boxes=True)
    assert ds.classes == ["circle", "square", "triangle"]
    assert np.bincount(ds.targets).tolist() == [20, 20, 20]
    assert ds.data.dtype == np.float32 and 0 <= ds.data.min() and ds.data.max() <= 1
    for i in range(len(ds)):
        image, label, mask, box = ds[i]
        assert image.shape == (3, 32, 32) and mask.shape == (32, 32) and mask.dtype == np.int64
        assert set(np.unique(mask).tolist()) == {0, 1 + label}
        rows, cols = np.nonzero(mask)
        assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        x1, y1, x2, y2 = box.astype(int)
        assert (mask[y1:y2, x1:x2] > 0).sum() == (mask > 0).sum()
        inside = image[:, mask > 0].mean(axis=1)
        outside = image[:, mask == 0].mean(axis=1)
        assert np.linalg.norm(inside - outside) > 0.3  # the shape stands out from the background


def test_shapes_fill_ratios_tell_the_classes_apart():
    ds = Shapes(n=90, size=32, seed=2, with_masks=True, with_boxes=True)
    fill = []
    for i in range(len(ds)):
        _, label, mask, box = ds[i]
        x1, y1, x2, y2 = box
        fill.append(((mask > 0).sum() / ((x2 - x1) * (y2 - y1)), label))
    fill = np.array(fill)
    means = [fill[fill[:, 1] == c, 0].mean() for c in range(3)]
    assert 0.7 < means[0] < 0.85  # circle: pi / 4
    assert means[2] < 0.6  # triangle: about half its box


def test_shapes_item_forms_and_errors():
    ds = Shapes(n=5, size=16, transform=lambda x: x * 0, target_transform=lambda y: -y)
    image, label = ds[2]
    assert image.max() == 0 and label == -int(ds.targets[2])
    assert len(Shapes(n=5, size=16, with_boxes=True)[0]) == 3
    with pytest.raises(ValueError, match="size must be an int >= 8"):
        Shapes(size=4)
    with pytest.raises(ValueError, match="n must be"):
        Shapes(n=0)


# ------------------------------------------------------------------------------------ splits and array datasets
def test_random_split_counts_and_fractions_match_torch():
    torch = pytest.importorskip("torch")
    for n, fractions in ((10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]), (1797, [0.8, 0.2]), (11, [0.1, 0.2, 0.3, 0.4])):
        ours = [len(s) for s in random_split(ArrayDataset(np.zeros((n, 1))), fractions, seed=0)]
        theirs = [len(s) for s in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


def test_random_split_partitions_and_is_deterministic():
    ds = ArrayDataset(np.arange(20, dtype=np.float32)[:, None], np.arange(20))
    parts = random_split(ds, [5, 15], seed=1)
    idx = np.concatenate([p.indices for p in parts])
    assert sorted(idx.tolist()) == list(range(20))
    again = random_split(ds, [5, 15], seed=1)
    np.testing.assert_array_equal(parts[0].indices, again[0].indices)
    ck.manual_seed(5)
    g1 = random_split(ds, [0.5, 0.5])
    ck.manual_seed(5)
    g2 = random_split(ds, [0.5, 0.5])
    np.testing.assert_array_equal(g1[1].indices, g2[1].indices)
    assert parts[0][2][1] == parts[0].indices[2]


def test_random_split_errors():
    ds = ArrayDataset(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="sum to 9 but the dataset has 10"):
        random_split(ds, [4, 5])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.6])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(ds, [11, -1])
    with pytest.raises(TypeError, match="ints or fractions"):
        random_split(ds, ["a", 10])
    with pytest.warns(UserWarning, match="empty"):
        random_split(ArrayDataset(np.zeros((1, 1))), [0.5, 0.5])


def test_train_val_split():
    train, val = train_val_split(Digits(), 0.2, seed=0)
    assert len(val) == 287 and len(train) == 1150
    assert not set(train.indices.tolist()) & set(val.indices.tolist())
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(Digits(), 1.5)


def test_array_and_tensor_datasets():
    x = np.random.default_rng(0).random((6, 1, 2, 2))
    y = np.arange(6, dtype=np.int32)
    ds = ArrayDataset(x, y)
    assert ds.data.dtype == np.float32 and ds.targets.dtype == np.int64  # float64 images stored as float32
    image, label = ds[4]
    assert image.shape == (1, 2, 2) and label == 4
    assert ArrayDataset(ck.tensor(x.astype(np.float32))).arrays().shape == (6, 1, 2, 2)
    with pytest.raises(ValueError, match="6 images but 5 labels"):
        ArrayDataset(x, y[:5])
    t = TensorDataset(x, y, ck.tensor(y.astype(np.float32)))
    assert len(t) == 6 and t[1][0].dtype == np.float64 and t[1][1] == 1 and t[1][2] == 1.0
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(x, y[:3])
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_subset_and_concat():
    ds = ArrayDataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    sub = Subset(ds, [7, 2, 2])
    assert len(sub) == 3 and sub[0][1] == 7 and sub[-1][1] == 2
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        Subset(ds, [10])
    with pytest.raises(IndexError):
        sub[3]
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 13 and both[10][1] == 7 and both[9][1] == 9
    with pytest.raises(IndexError):
        both[13]


def test_transform_dataset_wraps_items_and_subsets():
    base = Digits()
    train, _ = train_val_split(base, 0.25, seed=0)
    wrapped = TransformDataset(train, transform=lambda x: x * 0 + 1, target_transform=lambda y: y + 10)
    image, label = wrapped[0]
    assert len(wrapped) == len(train) and image.max() == 1.0 and label == base[int(train.indices[0])][1] + 10
    assert TransformDataset(base).classes == base.classes
    x, y = next(iter(DataLoader(TransformDataset(train), batch_size=4)))
    np.testing.assert_array_equal(y.data, base.targets[train.indices[:4]])
    shapes = TransformDataset(Shapes(n=4, size=16, with_boxes=True), transform=lambda x: x[:1])
    assert shapes[0][0].shape == (1, 16, 16) and len(shapes[0]) == 3
    with pytest.raises(TypeError, match="callable"):
        TransformDataset(base, transform=1)


def test_shape_scenes_masks_boxes_and_labels_agree():
    from cnnkit.data import ShapeScenes

    scenes = ShapeScenes(n=40, size=48, seed=3, target="both", max_objects=4)
    counts = [len(b) for b in scenes.labels]
    assert min(counts) == 0 and max(counts) == 4  # empty images exist, and crowded ones
    for i in range(len(scenes)):
        image, mask, target = scenes[i]
        assert image.shape == (3, 48, 48) and image.dtype == np.float32 and mask.shape == (48, 48)
        boxes, labels = target["boxes"], target["labels"]
        assert boxes.shape == (len(labels), 4) and boxes.dtype == np.float32 and labels.dtype == np.int64
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes >= 0).all() and (boxes <= 48).all()
        # every visible class of the mask is a labelled shape, and the mask lies inside the union of boxes
        assert set(np.unique(mask)) - {0} <= {1 + int(c) for c in labels}
        inside = np.zeros((48, 48), dtype=bool)
        for x1, y1, x2, y2 in boxes.astype(int):
            inside[y1:y2, x1:x2] = True
        assert not (mask > 0)[~inside].any()
    again = ShapeScenes(n=40, size=48, seed=3, target="both", max_objects=4)
    np.testing.assert_array_equal(again.data, scenes.data)
    assert not np.array_equal(ShapeScenes(n=40, size=48, seed=3, train=False).data, scenes.data)


@pytest.mark.parametrize("kwargs, word", [({"size": 8}, "size"), ({"min_objects": 3, "max_objects": 2}, "max_objects"),
                                          ({"target": "boxes2"}, "target"), ({"max_overlap": 2}, "max_overlap")])
def test_shape_scenes_rejects_bad_arguments(kwargs, word):
    from cnnkit.data import ShapeScenes
    from cnnkit.errors import InputError

    with pytest.raises(InputError, match=word):
        ShapeScenes(n=2, **kwargs)
