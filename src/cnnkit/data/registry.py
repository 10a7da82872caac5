"""The named datasets a run can use, by task: what each item holds and what a model needs to know about the data.

    bundle = load_dataset("digits")                         # classification: items (image, label)
    bundle = load_dataset("shapes", task="segmentation")    # items (image, mask)
    bundle.info.num_classes, bundle.info.in_channels, bundle.info.input_size

Images come back as float32 (C, H, W) in [0, 1]. Item layout per task: classification ``(image, label)``,
segmentation ``(image, mask)`` with an int64 (H, W) mask (255 = ignore; every segmentation and detection dataset
augments with the joint flip and scale + crop of :func:`cnnkit.data.joint.segmentation_augmentation` /
:func:`~cnnkit.data.joint.detection_augmentation` unless it has its own),
reconstruction ``(image, label)`` (the
image is its own target), detection ``(image, {"boxes": (K, 4) xyxy, "labels": (K,)})`` (boxes clipped or dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError
from .dataset import Dataset, check_index

__all__ = ["DataInfo", "DataBundle", "DatasetInfo", "load_dataset", "list_datasets", "dataset_info", "Columns"]


@dataclass(frozen=True)
class DataInfo:
    """What a model and a report need to know about the data: input channels and size, classes."""

    in_channels: int
    input_size: int
    num_classes: int
    classes: tuple = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = [str(c) for c in self.classes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DataInfo:
        try:
            return cls(int(d["in_channels"]), int(d["input_size"]), int(d["num_classes"]),
                       tuple(str(c) for c in d.get("classes", ())))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"data info: expected in_channels, input_size and num_classes, got {d!r}") from None


@dataclass
class DataBundle:
    """The train and test sets of a dataset for one task, with their :class:`DataInfo`."""

    name: str
    task: str
    train: object
    test: object
    info: DataInfo
    augmentation: Callable | None = None  # the dataset's augmentation preset (a transform factory) or None


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: the tasks the dataset serves, whether it needs a data folder, and its loader
    ``load(task, data_dir, download, image_size) -> DataBundle``."""

    name: str
    description: str
    tasks: tuple[str, ...]
    load: Callable = field(repr=False)
    needs_dir: bool = False


class Columns(Dataset):
    """A view of a dataset whose items are tuples, keeping the listed positions: ``Columns(shapes, (0, 2))`` turns
    ``(image, label, mask)`` items into ``(image, mask)``."""

    def __init__(self, dataset, columns: tuple[int, ...]):
        self.dataset, self.columns = dataset, tuple(columns)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[check_index(index, len(self), "Columns")]
        return tuple(item[c] for c in self.columns)

    def _get_batch(self, indices):
        batch = self.dataset._get_batch(indices) if hasattr(self.dataset, "_get_batch") else None
        return None if batch is None else tuple(batch[c] for c in self.columns)

    def __getattr__(self, name):
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _require_dir(data_dir, dataset: str) -> Path:
    if not data_dir:
        raise InputError(f"dataset {dataset!r} needs a data folder (the folder holding its files; it can also be "
                         f"downloaded into one)", field="data_dir")
    return Path(data_dir)


def _digit_augmentation():
    from .transforms import digits_augmentation

    return digits_augmentation()


def _cifar_augmentation():
    from .transforms import cifar_augmentation

    return cifar_augmentation()


def _classification_or_reconstruction(name, train, test, channels, size, augmentation) -> Callable:
    def bundle(task):
        info = DataInfo(channels, size, len(train.classes), tuple(map(str, train.classes)))
        return DataBundle(name, task, train, test, info, augmentation)

    return bundle


def _load_digits(task, data_dir, download, image_size):
    from .digits import Digits

    train, test = Digits(train=True), Digits(train=False)
    return _classification_or_reconstruction("digits", train, test, 1, 8, _digit_augmentation)(task)


def _load_idx(name):
    def load(task, data_dir, download, image_size):
        from .vision import MNIST, FashionMNIST

        cls = MNIST if name == "mnist" else FashionMNIST
        root = _require_dir(data_dir, name)
        train, test = cls(root, train=True, download=download), cls(root, train=False, download=download)
        return _classification_or_reconstruction(name, train, test, 1, 28, _digit_augmentation)(task)

    return load


def _load_cifar10(task, data_dir, download, image_size):
    from .vision import CIFAR10

    root = _require_dir(data_dir, "cifar10")
    train, test = CIFAR10(root, train=True, download=download), CIFAR10(root, train=False, download=download)
    return _classification_or_reconstruction("cifar10", train, test, 3, 32, _cifar_augmentation)(task)


# ShapeScenes set sizes: generating 1,000 64x64 scenes takes about 0.4 s, and segmentation nets need many.
SCENES_TRAIN, SCENES_TEST = 8000, 500


def _shape_scenes_segmentation(task, image_size):
    """Shapes for segmentation: :class:`~cnnkit.data.synthetic.ShapeScenes` of several shapes per image (some
    empty, overlaps), masks 0 = background and 1 + class."""
    from .synthetic import ShapeScenes

    size = image_size or 64
    train = ShapeScenes(n=SCENES_TRAIN, size=size, seed=0, train=True, target="mask")
    test = ShapeScenes(n=SCENES_TEST, size=size, seed=0, train=False, target="mask")
    classes = ("background", *ShapeScenes.classes)
    return DataBundle("shapes", task, train, test, DataInfo(3, size, len(classes), classes), None)


def _load_shapes(task, data_dir, download, image_size):
    if task == "segmentation":
        return _shape_scenes_segmentation(task, image_size)
    if task == "detection":
        from .detection import shape_scenes_bundle

        return shape_scenes_bundle(image_size)
    from .synthetic import Shapes

    size = image_size or 32
    train = Shapes(n=1500, size=size, seed=0, train=True)
    test = Shapes(n=500, size=size, seed=0, train=False)
    return _classification_or_reconstruction("shapes", train, test, 3, size, _cifar_augmentation)(task)


def _load_segmentation_folder(root: Path, image_size):
    from .segmentation import SegmentationFolder, read_classes

    classes = read_classes(root / "classes.txt")
    train = SegmentationFolder(root / "train", classes=classes)
    test = SegmentationFolder(root / "test", classes=classes or train.classes)
    if len(test.classes) > len(train.classes):  # names taken from the masks: the test masks hold more classes
        train = SegmentationFolder(root / "train", classes=test.classes)
    sizes = train.image_sizes | test.image_sizes
    (w, h), = sizes if len(sizes) == 1 else ((0, 1),)
    size = image_size or (w if w == h else 64)  # square images of one size stay as they are; others become 64x64
    train.size = test.size = (size, size)
    info = DataInfo(3, size, len(train.classes), train.classes)
    return DataBundle("folder", "segmentation", train, test, info, None)


def _load_folder(task, data_dir, download, image_size):
    from .folder import ImageFolder

    root = _require_dir(data_dir, "folder")
    train_root, test_root = root / "train", root / "test"
    if task == "segmentation":
        return _load_segmentation_folder(root, image_size)
    if not train_root.is_dir() or not test_root.is_dir():
        raise InputError(f"dataset 'folder' expects {train_root} and {test_root}, each with one sub-folder of "
                         f"images per class", field="data_dir")
    size = image_size or 32
    train = ImageFolder(train_root, mode="RGB", size=(size, size))
    test = ImageFolder(test_root, mode="RGB", size=(size, size))
    if train.classes != test.classes:
        raise InputError(f"dataset 'folder': train classes {train.classes} differ from test classes {test.classes}",
                         field="data_dir")
    return _classification_or_reconstruction("folder", train, test, 3, size, _cifar_augmentation)(task)


def _load_annotated(name):
    def load(task, data_dir, download, image_size):
        from . import detection

        return getattr(detection, f"load_{name}")(_require_dir(data_dir, name), image_size)

    return load


_CLASSIFY = ("classification", "reconstruction")
_REGISTRY: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "UCI handwritten digits, 8x8 grey (bundled)", _CLASSIFY, _load_digits),
    "mnist": DatasetInfo("mnist", "MNIST handwritten digits, 28x28 grey", _CLASSIFY, _load_idx("mnist"), True),
    "fashion-mnist": DatasetInfo("fashion-mnist", "Fashion-MNIST clothing, 28x28 grey", _CLASSIFY,
                                 _load_idx("fashion-mnist"), True),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10, 32x32 colour", _CLASSIFY, _load_cifar10, True),
    "shapes": DatasetInfo("shapes", "seeded synthetic circles, squares and triangles with masks (generated)",
                          ("classification", "segmentation", "reconstruction", "detection"), _load_shapes),
    "folder": DatasetInfo("folder", "an image folder: <data_dir>/train/<class>/*.png and test/<class>/*.png; for "
                          "segmentation <data_dir>/train/images/*.png with train/masks/*.png (index or palette PNGs, "
                          "255 = ignore), the same under test/, and optionally classes.txt (one name a line, "
                          "background first); images are resized to the image size (default: their own when all are "
                          "square and of one size, else 64)", (*_CLASSIFY, "segmentation"), _load_folder, True),
    "voc": DatasetInfo("voc", "Pascal VOC layout: <data_dir>/Annotations/*.xml and JPEGImages/ (boxes)",
                       ("detection",), _load_annotated("voc"), True),
    "yolo": DatasetInfo("yolo", "YOLO layout: <data_dir>/images/ and labels/*.txt (class cx cy w h, normalised)",
                        ("detection",), _load_annotated("yolo"), True),
    "coco": DatasetInfo("coco", "COCO layout: <data_dir>/annotations.json and images/ (boxes)",
                        ("detection",), _load_annotated("coco"), True),
}


def list_datasets(task: str | None = None) -> list[str]:
    """Dataset names, in registry order; only those serving ``task`` when given."""
    return [name for name, info in _REGISTRY.items() if task is None or task in info.tasks]


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of a dataset name."""
    if name not in _REGISTRY:
        raise InputError(f"unknown dataset {name!r}; known datasets: {', '.join(_REGISTRY)}", field="dataset")
    return _REGISTRY[name]


def load_dataset(name: str, task: str = "classification", data_dir=None, download: bool = False,
                 image_size: int | None = None) -> DataBundle:
    """Load a named dataset for ``task``: its train and test sets and their :class:`DataInfo`."""
    info = dataset_info(name)
    if task not in info.tasks:
        raise InputError(f"dataset {name!r} serves the tasks {', '.join(info.tasks)}, not {task!r}; datasets for "
                         f"{task}: {', '.join(list_datasets(task)) or 'none'}", field="dataset")
    bundle = info.load(task, data_dir, download, image_size)
    if task in ("segmentation", "detection") and bundle.augmentation is None:
        from functools import partial

        from . import joint

        preset = joint.segmentation_augmentation if task == "segmentation" else joint.detection_augmentation
        bundle.augmentation = partial(preset, bundle.info.input_size)  # flip, scale + crop of image and target
    return bundle
