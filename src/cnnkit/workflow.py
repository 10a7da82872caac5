"""From a run configuration (a plain dict stored in every checkpoint) to data, model, optimizer and schedule.

The CLI and the experiments build everything through these functions, so ``cnnkit evaluate`` and ``cnnkit
predict`` rebuild exactly the model and data pipeline a checkpoint was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError


@dataclass
class DataBundle:
    """The train and test sets of a dataset with what a model needs to know about them."""

    name: str
    train: object
    test: object
    in_channels: int
    input_size: int
    num_classes: int
    classes: list


def _require_dir(data_dir, dataset: str) -> str:
    if not data_dir:
        raise InputError(f"--dataset {dataset} needs --data-dir (the folder holding its files; add --download to "
                         f"fetch them)")
    return data_dir


def load_data(name: str, data_dir=None, download: bool = False, image_size: int = 32) -> DataBundle:
    """Load a dataset by its CLI name; images come back as float32 NCHW in [0, 1]."""
    from . import data

    if name == "digits":
        train, test = data.Digits(train=True), data.Digits(train=False)
        return DataBundle(name, train, test, 1, 8, 10, list(train.classes))
    if name in ("mnist", "fashion-mnist"):
        cls = data.MNIST if name == "mnist" else data.FashionMNIST
        root = _require_dir(data_dir, name)
        train, test = cls(root, train=True, download=download), cls(root, train=False, download=download)
        return DataBundle(name, train, test, 1, 28, 10, list(train.classes))
    if name == "cifar10":
        root = _require_dir(data_dir, name)
        train, test = data.CIFAR10(root, train=True, download=download), data.CIFAR10(root, train=False,
                                                                                        download=download)
        return DataBundle(name, train, test, 3, 32, 10, list(train.classes))
    if name == "shapes":
        train, test = data.Shapes(n=1500, size=32, seed=0, train=True), data.Shapes(n=500, size=32, seed=0,
                                                                                    train=False)
        return DataBundle(name, train, test, 3, 32, 3, list(train.classes))
    if name == "folder":
        root = Path(_require_dir(data_dir, name))
        train_root, test_root = root / "train", root / "test"
        if not train_root.is_dir() or not test_root.is_dir():
            raise InputError(f"--dataset folder expects {train_root} and {test_root}, each with one sub-folder of "
                             f"images per class")
        size = (image_size, image_size)
        train = data.ImageFolder(train_root, mode="RGB", size=size)
        test = data.ImageFolder(test_root, mode="RGB", size=size)
        if train.classes != test.classes:
            raise InputError(f"--dataset folder: train classes {train.classes} differ from test classes "
                             f"{test.classes}")
        return DataBundle(name, train, test, 3, image_size, len(train.classes), list(train.classes))
    raise InputError(f"unknown dataset {name!r}")


def _augmentation(dataset: str):
    from .data import transforms

    if dataset in ("digits", "mnist", "fashion-mnist"):
        return transforms.digits_augmentation()
    return transforms.cifar_augmentation()


def make_loaders(bundle: DataBundle, config: dict):
    """(train, validation, test) DataLoaders: a seeded validation split of the training set."""
    from .data import DataLoader, train_val_split

    train_set, val_set = bundle.train, None
    if config.get("val_fraction", 0) > 0:
        train_set, val_set = train_val_split(bundle.train, config["val_fraction"], seed=config.get("seed", 0))
    if config.get("augment"):
        from .data import TransformDataset

        train_set = TransformDataset(train_set, _augmentation(bundle.name))
    batch = config.get("batch_size", 32)
    train = DataLoader(train_set, batch_size=batch, shuffle=True)
    val = DataLoader(val_set, batch_size=256) if val_set is not None else None
    test = DataLoader(bundle.test, batch_size=256)
    return train, val, test


def build_model(config: dict):
    """The model named in the config, sized for the dataset."""
    from . import models

    name = config["model"]
    kwargs = {"num_classes": config["num_classes"]}
    if name == "small_cnn":
        kwargs.update(in_channels=config["in_channels"], input_size=config["input_size"])
    elif config.get("in_channels", 3) != 3 or name in ("lenet5",):
        kwargs["in_channels"] = config["in_channels"]
    try:
        return models.get_model(name, **kwargs)
    except TypeError as err:
        raise InputError(f"model {name!r} cannot be built for this dataset: {err}") from None


def build_optimizer(model, config: dict):
    """The optimizer named in the config (momentum/nesterov are SGD variants)."""
    from . import optim

    name, lr, wd = config["optimizer"], config["lr"], config.get("weight_decay", 0.0)
    params = model.parameters()
    if name == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=wd)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=config.get("momentum", 0.9), nesterov=name == "nesterov",
                         weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd or 1e-2)
    raise InputError(f"unknown optimizer {name!r}")


def build_scheduler(optimizer, config: dict, steps_per_epoch: int):
    """(scheduler or None, stepped per batch?) for the config's schedule, with optional linear warm-up."""
    from .optim import lr_scheduler as S

    name, epochs, warmup = config.get("schedule", "none"), config["epochs"], config.get("warmup", 0)
    main_epochs = max(1, epochs - warmup)
    if name == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=epochs * steps_per_epoch), True
    schedulers = {
        "none": None,
        "step": lambda: S.StepLR(optimizer, step_size=max(1, main_epochs // 3), gamma=0.1),
        "cosine": lambda: S.CosineAnnealingLR(optimizer, T_max=main_epochs),
        "exponential": lambda: S.ExponentialLR(optimizer, gamma=0.9),
        "plateau": lambda: S.ReduceLROnPlateau(optimizer, factor=0.5, patience=2),
    }
    if name not in schedulers:
        raise InputError(f"unknown schedule {name!r}")
    if name == "none" and not warmup:
        return None, False
    main = schedulers[name]() if name != "none" else None
    if warmup:
        if name == "plateau":
            raise InputError("--warmup cannot be combined with --schedule plateau")
        warm = S.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
        if main is None:
            return warm, False
        return S.SequentialLR(optimizer, [warm, main], milestones=[warmup]), False
    return main, False


def load_image_for(path, config: dict, resize: bool = False) -> np.ndarray:
    """Read an image file as the model's input: (C, H, W) float32 in [0, 1].

    The image must already have the model's channels and size, else a ValueError names both; with ``resize``
    it is converted (to grey or RGB) and resized bilinearly instead.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predict: no image file at {path}")
    channels, size = config["in_channels"], config["input_size"]
    try:
        with Image.open(path) as im:
            if im.mode == "P":  # a palette image: its colours, not its palette indices
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            found = len(im.getbands())
            if not resize and (found != channels or im.size != (size, size)):
                raise InputError(f"predict: {path} is a {im.width}x{im.height} image with {found} channel(s), but "
                                 f"the model takes {size}x{size} images with {channels} channel(s); pass --resize "
                                 f"to convert and resize it")
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            array = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"predict: cannot read {path} as an image ({err})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
