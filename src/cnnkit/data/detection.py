"""Detection datasets: items ``(image (C, S, S) float32, {"boxes": (K, 4) float32 xyxy, "labels": (K,) int64})``.

- ``shapes``: :class:`~cnnkit.data.synthetic.ShapeScenes` scenes of 0-4 circles, squares and triangles.
- ``--augment``: :func:`cnnkit.data.joint.detection_augmentation` (flip, scale + crop; boxes clipped or dropped).
- Annotation folders, each read into images resized to ``size`` x ``size`` with their boxes scaled alike (so
  batches stack): :class:`VOCDetection` (Pascal VOC XML), :class:`YOLODetection` (YOLO txt) and
  :class:`COCODetection` (COCO JSON). Every target is checked when the folder is opened (boxes finite with
  x1 <= x2 and y1 <= y2, labels within the classes); a malformed file is one :class:`~cnnkit.errors.InputError`
  naming the file and its line (YOLO), element (VOC) or key (COCO).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dataset import Dataset, check_index
from .targets import check_target

__all__ = ["shape_scenes_bundle", "DetectionFolder", "load_voc", "load_yolo", "load_coco",
           "read_voc_xml", "read_yolo_txt", "read_coco_json", "SHAPES_TRAIN", "SHAPES_TEST"]

SHAPES_TRAIN, SHAPES_TEST = 2000, 500  # scenes in the generated train and test sets


def shape_scenes_bundle(image_size: int | None = None):
    """The ``shapes`` dataset for detection: seeded ShapeScenes (64 x 64 unless ``image_size``; 0-4 objects, some
    images empty), train and test drawn from different streams."""
    from .registry import DataBundle, DataInfo
    from .synthetic import ShapeScenes

    size = image_size or 64
    if size < 16:
        raise InputError(f"dataset 'shapes' for detection: image size must be >= 16, got {size}", field="image_size")
    train = ShapeScenes(n=SHAPES_TRAIN, size=size, seed=0, train=True, target="boxes")
    test = ShapeScenes(n=SHAPES_TEST, size=size, seed=0, train=False, target="boxes")
    info = DataInfo(3, size, len(ShapeScenes.classes), tuple(ShapeScenes.classes))
    return DataBundle("shapes", "detection", train, test, info, None)


# ---------------------------------------------------------------------------------------------------- folders
MAX_ANNOTATION_BYTES = 256 * 2 ** 20  # an annotation file larger than this is refused before it is read
TEST_FRACTION = 0.2  # the share of a folder without an explicit split that becomes the test set
DEFAULT_FOLDER_SIZE = 128
MAX_NUMBERED_CLASSES = 1000  # YOLO folders without classes.txt: class indices 0 .. 999 (named "0", "1", ...)


class DetectionFolder(Dataset):
    """Images listed with their targets (boxes in the image's own pixels), served resized to ``size`` x ``size``
    with the boxes scaled alike and clipped to the image (a box left without area, e.g. one outside the image or
    of zero width, is dropped with its label). ``records``: (image path, boxes (K, 4) in the file's
    pixels (fractions of the image when ``normalised``), labels (K,), difficult (K,) or None); ``classes`` are the
    class names (labels index them)."""

    def __init__(self, records, classes, size: int, normalised: bool = False):
        self.records, self.classes, self.size, self.normalised = list(records), tuple(classes), int(size), normalised

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):
        from .images import open_image

        path, boxes, labels, difficult = self.records[check_index(index, len(self), type(self).__name__)]
        found = {}

        def keep_size(width, height, channels):
            found["wh"] = (width, height)

        image = open_image(path, "RGB", (self.size, self.size), check=keep_size)
        width, height = (1, 1) if self.normalised else found["wh"]
        scale = np.array([self.size / width, self.size / height] * 2, np.float32)
        boxes = np.clip(boxes * scale, 0, self.size).astype(np.float32).reshape(-1, 4)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # no area left: nothing to detect
        target = {"boxes": boxes[keep], "labels": labels[keep]}
        if difficult is not None:
            target["difficult"] = difficult[keep]
        return image, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, {len(self.classes)} classes, size={self.size})"


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    if path.stat().st_size > MAX_ANNOTATION_BYTES:
        raise InputError(f"{path}: {path.stat().st_size:,} bytes; annotation files of more than "
                         f"{MAX_ANNOTATION_BYTES:,} bytes are refused")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _class_file(root: Path) -> tuple[str, ...] | None:
    """Class names from ``root/classes.txt`` (one per line), or None when there is no such file."""
    path = root / "classes.txt"
    if not path.is_file():
        return None
    names = tuple(line.strip() for line in _read_text(path).splitlines() if line.strip())
    if not names or len(set(names)) != len(names):
        raise InputError(f"{path}: expected one distinct class name per line, got {list(names)[:10]}")
    return names


def _split(items: list, seed: int = 0) -> tuple[list, list]:
    """(train, test): a seeded ``TEST_FRACTION`` of the items (at least one) for the test set, order kept."""
    if len(items) < 2:
        raise InputError(f"a detection folder needs at least 2 annotated images to split into train and test, got "
                         f"{len(items)}", field="data_dir")
    n_test = min(len(items) - 1, max(1, round(TEST_FRACTION * len(items))))
    test = set(np.random.default_rng(seed).permutation(len(items))[:n_test].tolist())
    return [x for i, x in enumerate(items) if i not in test], [x for i, x in enumerate(items) if i in test]


def _checked(path, boxes, labels, difficult, classes, where):
    target = {"boxes": np.asarray(boxes, np.float32).reshape(-1, 4), "labels": np.asarray(labels, np.int64),
              "difficult": None if difficult is None else np.asarray(difficult, bool)}
    t = check_target(target, len(classes), where)
    return path, t["boxes"], t["labels"], t.get("difficult")


def _bundle(name: str, train, test, classes, size: int, normalised: bool = False):
    from .registry import DataBundle, DataInfo

    info = DataInfo(3, size, len(classes), tuple(classes))
    return DataBundle(name, "detection", DetectionFolder(train, classes, size, normalised),
                      DetectionFolder(test, classes, size, normalised), info, None)


# ------------------------------------------------------------------------------------------------ Pascal VOC
def _voc_number(obj, tag: str, where: str) -> float:
    element = obj.find(tag)
    text = None if element is None else (element.text or "").strip()
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{where}: <{tag}> is {'missing' if element is None else repr(text)}; expected a number") \
            from None
    if not math.isfinite(value):
        raise InputError(f"{where}: <{tag}> is {text!r}; expected a finite number")
    return value


def read_voc_xml(path: Path) -> tuple[str, list[tuple[str, list[float], bool]]]:
    """(image file name, [(class name, [x1, y1, x2, y2], difficult), ...]) of one Pascal
    VOC annotation. VOC's corners are 1-based pixel indices, inclusive: the box spans [xmin - 1, xmax] x
    [ymin - 1, ymax] in pixel-edge coordinates."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(_read_text(path))
    except ET.ParseError as err:
        raise InputError(f"{path}: malformed XML ({err})") from None
    if root.tag != "annotation":
        raise InputError(f"{path}: the root element is <{root.tag}>, expected <annotation>")
    filename = (root.findtext("filename") or "").strip()
    if not filename:
        raise InputError(f"{path}: <annotation>/<filename> is missing or empty")
    objects = []
    for k, obj in enumerate(root.findall("object")):
        where = f"{path}: <object> {k + 1}"
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise InputError(f"{where}: <name> is missing or empty")
        box = obj.find("bndbox")
        if box is None:
            raise InputError(f"{where} ({name}): <bndbox> is missing")
        xyxy = [_voc_number(box, tag, f"{where} ({name}): <bndbox>") for tag in ("xmin", "ymin", "xmax", "ymax")]
        xyxy[0], xyxy[1] = xyxy[0] - 1, xyxy[1] - 1
        difficult = (obj.findtext("difficult") or "0").strip() not in ("0", "", "false")
        objects.append((name, xyxy, difficult))
    return filename, objects


def load_voc(root, size: int | None = None):
    """A Pascal VOC folder: ``Annotations/*.xml`` and ``JPEGImages/``; the split from ``ImageSets/Main/train.txt``
    (or ``trainval.txt``) and ``test.txt`` (or ``val.txt``) when present, else a seeded 80/20 split; the classes from
    ``classes.txt`` when present, else the sorted names found."""
    root = Path(root)
    ann = root / "Annotations"
    if not ann.is_dir():
        raise InputError(f"dataset 'voc' expects {ann} with one XML file per image (and the images in "
                         f"{root / 'JPEGImages'})", field="data_dir")
    parsed = {p.stem: (p, *read_voc_xml(p)) for p in sorted(ann.glob("*.xml"))}
    if not parsed:
        raise InputError(f"no XML annotation files in {ann}", field="data_dir")
    classes = _class_file(root) or tuple(sorted({o[0] for _, _, objs in parsed.values() for o in objs}))
    index = {c: i for i, c in enumerate(classes)}
    records = {}
    for stem, (path, filename, objs) in parsed.items():
        unknown = [o[0] for o in objs if o[0] not in index]
        if unknown:
            raise InputError(f"{path}: class {unknown[0]!r} is not among the classes {list(classes)}")
        image = root / "JPEGImages" / filename
        if not image.is_file():
            raise InputError(f"{path}: its image {image} does not exist")
        records[stem] = _checked(image, [o[1] for o in objs], [index[o[0]] for o in objs], [o[2] for o in objs],
                                 classes, str(path))
    sets = root / "ImageSets" / "Main"
    lists = [next((sets / f for f in names if (sets / f).is_file()), None)
             for names in (("train.txt", "trainval.txt"), ("test.txt", "val.txt"))]
    if all(lists):
        parts = []
        for listing in lists:
            stems = [line.split()[0] for line in _read_text(listing).splitlines() if line.strip()]
            missing = [s for s in stems if s not in records]
            if missing:
                raise InputError(f"{listing}: {missing[0]!r} has no annotation in {ann}")
            parts.append([records[s] for s in stems])
        train, test = parts
    else:
        train, test = _split(list(records.values()))
    return _bundle("voc", train, test, classes, size or DEFAULT_FOLDER_SIZE)


# ------------------------------------------------------------------------------------------------------- YOLO
def read_yolo_txt(path: Path, num_classes: int | None) -> tuple[list[list[float]], list[int]]:
    """Normalised xyxy boxes and class indices of one YOLO label file: a line per object,
    ``class cx cy w h`` with the centre and size as fractions of the image."""
    boxes, labels = [], []
    for n, line in enumerate(_read_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{n}"
        if len(fields) != 5:
            raise InputError(f"{where}: expected 5 values 'class cx cy w h', got {len(fields)}: {line.strip()!r}")
        try:
            cls = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise InputError(f"{where}: expected an integer class and 4 numbers, got {line.strip()!r}") from None
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            raise InputError(f"{where}: the box {fields[1:]} is not finite")
        if w < 0 or h < 0:
            raise InputError(f"{where}: negative width or height ({w}, {h})")
        limit = num_classes or MAX_NUMBERED_CLASSES
        if not 0 <= cls < limit:
            known = f"the {num_classes} classes of classes.txt" if num_classes else \
                f"0 to {limit - 1} (more classes need a classes.txt naming them)"
            raise InputError(f"{where}: class {cls} is outside {known}")
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        labels.append(cls)
    return boxes, labels


def load_yolo(root, size: int | None = None):
    """A YOLO folder: ``images/`` and ``labels/`` (a ``<image stem>.txt`` per image; a missing file means no
    objects), either flat (a seeded 80/20 split) or with ``train/`` and ``val/`` (or ``test/``) sub-folders in
    both; the classes from ``classes.txt`` when present, else "0", "1", ... up to the largest index found."""
    from .images import IMAGE_EXTENSIONS

    root = Path(root)
    if not (root / "images").is_dir():
        raise InputError(f"dataset 'yolo' expects {root / 'images'} and {root / 'labels'} (a class cx cy w h line "
                         f"per object)", field="data_dir")
    named = _class_file(root)

    def read(sub: str):
        images = sorted(p for p in (root / "images" / sub).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        out = []
        for image in images:
            label = root / "labels" / sub / (image.stem + ".txt")
            boxes, labels = read_yolo_txt(label, len(named) if named else None) if label.is_file() else ([], [])
            out.append((image, boxes, labels, str(label)))
        return out

    split = next((s for s in ("val", "test") if (root / "images" / s).is_dir()), None)
    if (root / "images" / "train").is_dir() and split:
        parts = [read("train"), read(split)]
    else:
        parts = list(_split(read("")))
    if not parts[0] or not parts[1]:
        raise InputError(f"no images in {root / 'images'}", field="data_dir")
    top = max((lab for part in parts for *_, labels, _ in part for lab in labels), default=0)
    classes = named or tuple(str(i) for i in range(top + 1))
    train, test = ([_checked(img, boxes, labels, None, classes, where) for img, boxes, labels, where in part]
                   for part in parts)
    return _bundle("yolo", train, test, classes, size or DEFAULT_FOLDER_SIZE, normalised=True)


# ------------------------------------------------------------------------------------------------------- COCO
def _key(obj, key: str, kind, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: missing key {key!r}")
    value = obj[key]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InputError(f"{where}.{key}: expected {getattr(kind, '__name__', 'a number')}, got "
                         f"{type(value).__name__} {str(value)[:40]}")
    return value


def read_coco_json(path: Path) -> tuple[tuple[str, ...], list[tuple[str, tuple, list, list, list]]]:
    """(class names, [(image file name, xyxy boxes, labels, crowd flags), ...]) of a COCO annotation file:
    ``images`` (id, file_name), ``annotations`` (image_id, category_id, bbox
    [x, y, w, h][, iscrowd]), ``categories`` (id, name); labels index the categories sorted by id."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: malformed JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with 'images', 'annotations' and 'categories'")
    lists = {}
    for key in ("images", "annotations", "categories"):
        lists[key] = _key(data, key, list, str(path))
    categories = {}
    for i, cat in enumerate(lists["categories"]):
        where = f"{path}: categories[{i}]"
        categories[_key(cat, "id", int, where)] = str(_key(cat, "name", str, where))
    order = sorted(categories)
    label_of = {cid: i for i, cid in enumerate(order)}
    images = {}
    for i, img in enumerate(lists["images"]):
        where = f"{path}: images[{i}]"
        images[_key(img, "id", int, where)] = (str(_key(img, "file_name", str, where)), [], [], [])
    for i, ann in enumerate(lists["annotations"]):
        where = f"{path}: annotations[{i}]"
        image_id, cat = _key(ann, "image_id", int, where), _key(ann, "category_id", int, where)
        if image_id not in images:
            raise InputError(f"{where}.image_id: {image_id} is not among the images' ids")
        if cat not in label_of:
            raise InputError(f"{where}.category_id: {cat} is not among the categories' ids {order[:20]}")
        bbox = _key(ann, "bbox", list, where)
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise InputError(f"{where}.bbox: expected 4 numbers [x, y, width, height], got {str(bbox)[:60]}")
        x, y, w, h = (float(v) for v in bbox)
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
            raise InputError(f"{where}.bbox: {bbox} must be finite with width and height >= 0")
        entry = images[image_id]
        entry[1].append([x, y, x + w, y + h])
        entry[2].append(label_of[cat])
        entry[3].append(bool(ann.get("iscrowd", 0)))
    return tuple(categories[c] for c in order), list(images.values())


def load_coco(root, size: int | None = None):
    """A COCO folder: one annotation file (``annotations.json``, or the only ``*.json`` in the folder or in
    ``annotations/``) and the images in ``images/`` (or beside the file); a seeded 80/20 split. Crowd annotations
    are kept as "difficult" (neither found nor missed by the evaluation)."""
    root = Path(root)
    candidates = [root / "annotations.json"] if (root / "annotations.json").is_file() else \
        sorted([*root.glob("*.json"), *(root / "annotations").glob("*.json")])
    if len(candidates) != 1:
        raise InputError(f"dataset 'coco' expects one annotation file in {root} (annotations.json, or a single "
                         f"*.json), found {len(candidates)}", field="data_dir")
    path = candidates[0]
    classes, entries = read_coco_json(path)
    if not classes:
        raise InputError(f"{path}: 'categories' is empty")
    folder = root / "images" if (root / "images").is_dir() else path.parent
    records = []
    for name, boxes, labels, crowd in entries:
        image = folder / name
        if not image.is_file():
            raise InputError(f"{path}: the image {name!r} is not in {folder}")
        records.append(_checked(image, boxes, labels, crowd, classes, f"{path}: image {name!r}"))
    train, test = _split(records)
    return _bundle("coco", train, test, classes, size or DEFAULT_FOLDER_SIZE)
