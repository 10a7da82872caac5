"""Detection annotation folders (Pascal VOC XML, YOLO txt, COCO JSON) read from tiny generated folders."""

import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.data.registry import load_dataset
from cnnkit.errors import InputError

CASES = 60  # mutated annotation folders per format
W, H = 40, 20  # every test image: 40 wide, 20 high; served at 16 x 16 (x scaled by 0.4, y by 0.8)
# per image: (class, x1, y1, x2, y2) in pixel-edge coordinates
OBJECTS = [[("cat", 0, 0, 20, 10)], [("dog", 10, 5, 40, 20), ("cat", 2, 2, 6, 6)], [], [("dog", 0, 10, 10, 20)],
           [("cat", 20, 0, 40, 20)]]


def _images(folder, n=len(OBJECTS), ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = np.full((H, W, 3), 40 * i, np.uint8)
        Image.fromarray(arr).save(folder / f"img{i}{ext}")


def make_voc(root, objects=OBJECTS, xml_of=None):
    _images(root / "JPEGImages", len(objects), ".jpg")
    (root / "Annotations").mkdir(parents=True)
    for i, objs in enumerate(objects):
        body = "".join(f"<object><name>{c}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin>"
                       f"<ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                       for c, x1, y1, x2, y2 in objs)
        xml = f"<annotation><filename>img{i}.jpg</filename><size><width>{W}</width><height>{H}</height>" \
              f"<depth>3</depth></size>{body}</annotation>"
        (root / "Annotations" / f"img{i}.xml").write_text(xml_of(i, xml) if xml_of else xml)
    return root


def make_yolo(root, objects=OBJECTS, classes=("cat", "dog")):
    _images(root / "images", len(objects))
    (root / "labels").mkdir(parents=True)
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    for i, objs in enumerate(objects):
        lines = [f"{classes.index(c)} {(x1 + x2) / 2 / W} {(y1 + y2) / 2 / H} {(x2 - x1) / W} {(y2 - y1) / H}"
                 for c, x1, y1, x2, y2 in objs]
        if lines or i % 2:  # an empty image may have an empty file or none
            (root / "labels" / f"img{i}.txt").write_text("\n".join(lines))
    return root


def make_coco(root, objects=OBJECTS):
    _images(root / "images", len(objects))
    cats = {"cat": 7, "dog": 3}  # ids in any order: labels follow the sorted ids (dog 0, cat 1)
    data = {"images": [{"id": 100 + i, "file_name": f"img{i}.png", "width": W, "height": H}
                       for i in range(len(objects))],
            "annotations": [{"id": k, "image_id": 100 + i, "category_id": cats[c], "bbox": [x1, y1, x2 - x1, y2 - y1],
                             "iscrowd": 0} for i, objs in enumerate(objects)
                            for k, (c, x1, y1, x2, y2) in enumerate(objs)],
            "categories": [{"id": v, "name": k} for k, v in cats.items()]}
    (root / "annotations.json").write_text(json.dumps(data))
    return root


def _all_items(bundle):
    return [bundle.train[i] for i in range(len(bundle.train))] + [bundle.test[i] for i in range(len(bundle.test))]


def _expected(classes):
    """The targets of OBJECTS as served at 16 x 16, keyed by the image's grey value."""
    out = {}
    for i, objs in enumerate(OBJECTS):
        boxes = np.array([[x1 * 0.4, y1 * 0.8, x2 * 0.4, y2 * 0.8] for _, x1, y1, x2, y2 in objs],
                         np.float32).reshape(-1, 4)
        out[40 * i] = (boxes, [classes.index(c) for c, *_ in objs])
    return out


@pytest.mark.parametrize("name, make", [("voc", make_voc), ("yolo", make_yolo), ("coco", make_coco)])
def test_folders_read_boxes_scaled_to_the_served_size(tmp_path, name, make):
    make(tmp_path / name)
    bundle = load_dataset(name, "detection", tmp_path / name, image_size=16)
    info = bundle.info
    assert (info.in_channels, info.input_size, info.num_classes) == (3, 16, 2)
    classes = list(info.classes)
    assert sorted(classes) == ["cat", "dog"]
    if name == "coco":
        assert classes == ["dog", "cat"]
    assert len(bundle.train) == 4 and len(bundle.test) == 1
    expected = _expected(classes)
    for image, target in _all_items(bundle):
        assert image.shape == (3, 16, 16) and image.dtype == np.float32
        boxes, labels = expected[int(round(image[0, 0, 0] * 255))]
        np.testing.assert_allclose(target["boxes"], boxes, atol=1e-4)
        assert target["labels"].tolist() == labels and target["labels"].dtype == np.int64


def test_voc_split_files_and_difficult(tmp_path):
    root = make_voc(tmp_path / "voc", xml_of=lambda i, xml: xml.replace("<difficult>0", "<difficult>1") if i == 1
                    else xml)
    sets = root / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("img0\nimg2\nimg3\n")
    (sets / "val.txt").write_text("img1\nimg4\n")
    bundle = load_dataset("voc", "detection", root, image_size=16)
    assert len(bundle.train) == 3 and len(bundle.test) == 2
    assert bundle.test[0][1]["difficult"].tolist() == [True, True]


def test_yolo_train_val_subfolders_without_class_file(tmp_path):
    root = tmp_path / "y"
    for sub, objs in (("train", OBJECTS[:3]), ("val", OBJECTS[3:])):
        make_yolo(tmp_path / f"tmp_{sub}", objs)
        for kind in ("images", "labels"):
            (root / kind).mkdir(parents=True, exist_ok=True)
            (tmp_path / f"tmp_{sub}" / kind).rename(root / kind / sub)
    bundle = load_dataset("yolo", "detection", root, image_size=16)
    assert bundle.info.classes == ("0", "1") and (len(bundle.train), len(bundle.test)) == (3, 2)
    (root / "labels" / "val" / "img1.txt").write_text("4000000000 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InputError, match=r"img1.txt:1: class 4000000000 is outside 0 to 999 \(more classes need a "
                                         r"classes.txt"):
        load_dataset("yolo", "detection", root)


@pytest.mark.parametrize("line, match", [
    ("0 0.5 0.5 0.2", r"labels/img0.txt:2: expected 5 values"),
    ("0 0.5 zero 0.2 0.2", r"img0.txt:2: expected an integer class and 4 numbers"),
    ("5 0.5 0.5 0.2 0.2", r"img0.txt:2: class 5 is outside the 2 classes of classes.txt"),
    ("-1 0.5 0.5 0.2 0.2", r"img0.txt:2: class -1 is outside"),
    ("1 0.5 0.5 -0.2 0.2", r"img0.txt:2: negative width"),
    ("1 nan 0.5 0.2 0.2", r"img0.txt:2: the box .* is not finite"),
])
def test_malformed_yolo_names_file_and_line(tmp_path, line, match):
    root = make_yolo(tmp_path / "y")
    label = root / "labels" / "img0.txt"
    label.write_text(label.read_text() + "\n" + line)
    with pytest.raises(InputError, match=match):
        load_dataset("yolo", "detection", root)


@pytest.mark.parametrize("edit, match", [
    (lambda x: x.replace("</annotation>", ""), r"img2.xml: malformed XML \(no element found: line 1"),
    (lambda x: x.replace("<xmax>20</xmax>", "<xmax>abc</xmax>"), r"img0.xml: <object> 1 \(cat\): <bndbox>: <xmax> is "
                                                                 r"'abc'; expected a number"),
    (lambda x: x.replace("<xmax>20</xmax>", "<xmax>-5</xmax>"), r"img0.xml: box 0 is .*expected x1 <= x2"),
    (lambda x: x.replace("<name>cat</name>", "<name></name>"), r"<object> 1: <name> is missing"),
    (lambda x: x.replace("<ymin>1</ymin>", ""), r"img0.xml: <object> 1 \(cat\): <bndbox>: <ymin> is missing"),
])
def test_malformed_voc_names_file_and_element(tmp_path, edit, match):
    target = 2 if "malformed XML" in match else 0
    root = make_voc(tmp_path / "v", xml_of=lambda i, xml: edit(xml) if i == target else xml)
    with pytest.raises(InputError, match=match):
        load_dataset("voc", "detection", root)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["annotations"][1].pop("bbox"), r"annotations\[1\]: missing key 'bbox'"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotations\[0\].bbox: expected 4 numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, -3, 4]), r"annotations\[0\].bbox: .* width and height >= 0"),
    (lambda d: d["annotations"][2].update(category_id=99), r"annotations\[2\].category_id: 99 is not among"),
    (lambda d: d["annotations"][2].update(image_id="x"), r"annotations\[2\].image_id: expected int, got str"),
    (lambda d: d.pop("categories"), r"annotations.json: missing key 'categories'"),
    (lambda d: d["images"][0].pop("file_name"), r"images\[0\]: missing key 'file_name'"),
])
def test_malformed_coco_names_the_key(tmp_path, edit, match):
    root = make_coco(tmp_path / "c")
    data = json.loads((root / "annotations.json").read_text())
    edit(data)
    (root / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=match):
        load_dataset("coco", "detection", root)


def test_coco_bad_json_and_missing_pieces(tmp_path):
    root = make_coco(tmp_path / "c")
    (root / "annotations.json").write_text('{"images": [}')
    with pytest.raises(InputError, match=r"annotations.json: malformed JSON .* line 1 column 13"):
        load_dataset("coco", "detection", root)
    with pytest.raises(InputError, match="needs a data folder"):
        load_dataset("coco", "detection", None)
    with pytest.raises(InputError, match="expects .*Annotations"):
        load_dataset("voc", "detection", tmp_path)


def test_shapes_for_detection():
    bundle = load_dataset("shapes", "detection")
    assert bundle.info.classes == ("circle", "square", "triangle") and bundle.info.input_size == 64
    image, target = bundle.train[0]
    assert image.shape == (3, 64, 64) and set(target) == {"boxes", "labels"}
    counts = [len(bundle.train[i][1]["labels"]) for i in range(200)]
    assert min(counts) == 0 and max(counts) >= 3  # some images are empty


def test_voc_entity_bomb_is_refused(tmp_path):
    lol = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    root = make_voc(tmp_path / "v", xml_of=lambda i, xml: f"<!DOCTYPE annotation [{lol}]>" +
                    xml.replace("<name>cat</name>", "<name>&a9;</name>"))
    with pytest.raises(InputError, match="malformed XML"):
        load_dataset("voc", "detection", root)


@pytest.mark.parametrize("name, make, files", [
    ("voc", make_voc, "Annotations/*.xml"), ("yolo", make_yolo, "labels/*.txt"), ("coco", make_coco, "*.json")])
def test_mutated_annotations_load_or_are_refused_cleanly(tmp_path, name, make, files):
    from fuzz_loaders import mutate

    root = make(tmp_path / name)
    originals = {p: p.read_bytes() for p in sorted(root.glob(files))}
    rng = np.random.default_rng(3)
    loaded = refused = 0
    for _ in range(CASES):
        for path, raw in originals.items():
            path.write_bytes(raw)
        victim = list(originals)[int(rng.integers(len(originals)))]
        victim.write_bytes(mutate(originals[victim], rng))
        try:
            bundle = load_dataset(name, "detection", root, image_size=16)
            for image, target in _all_items(bundle):
                assert image.shape == (3, 16, 16) and np.isfinite(target["boxes"]).all()
                assert ((target["labels"] >= 0) & (target["labels"] < bundle.info.num_classes)).all()
            loaded += 1
        except InputError as err:
            assert "\n" not in str(err).strip()
            refused += 1
    assert loaded + refused == CASES and refused > 0


def test_detection_augmentation_moves_boxes_with_the_image():
    from cnnkit.data.joint import detection_augmentation
    from cnnkit.data.synthetic import ShapeScenes

    scenes = ShapeScenes(n=40, size=64, target="boxes", min_objects=1)
    augment = detection_augmentation(64, seed=0)
    kept = total = 0
    for i in range(len(scenes)):
        image, target = scenes[i]
        out, moved = augment(image, target)
        assert out.shape == (3, 64, 64) and set(moved) == {"boxes", "labels"}
        assert len(moved["boxes"]) == len(moved["labels"]) <= len(target["boxes"])
        b = moved["boxes"]
        assert ((b >= 0) & (b <= 64)).all() and (b[:, 2:] >= b[:, :2]).all()
        assert set(moved["labels"].tolist()) <= set(target["labels"].tolist())
        kept, total = kept + len(b), total + len(target["boxes"])
    assert 0.5 * total < kept <= total  # most objects survive a crop of at least 60% of the area


def test_augmented_detection_run(tmp_path, monkeypatch):
    from standin_detector import register

    import cnnkit.data.detection as detection
    from cnnkit.runs import train_run
    from cnnkit.training.config import RunConfig

    monkeypatch.setattr(detection, "SHAPES_TRAIN", 100)
    monkeypatch.setattr(detection, "SHAPES_TEST", 50)
    name = register(monkeypatch)
    config = RunConfig(model=name, task="detection", dataset="shapes", epochs=1, batch_size=16, subset=48,
                       augment=True)
    assert "map50" in train_run(config, out=tmp_path / "run").report


def test_boxes_without_area_are_dropped(tmp_path):
    objects = [[("cat", 0, 0, 20, 10), ("dog", 5, 5, 5, 15)], [("dog", 10, 5, 40, 20)], [("cat", 2, 2, 6, 6)]]
    root = make_coco(tmp_path / "c", objects)
    data = json.loads((root / "annotations.json").read_text())
    data["annotations"].append({"id": 9, "image_id": 101, "category_id": 7, "bbox": [50, 0, 10, 10]})  # outside
    (root / "annotations.json").write_text(json.dumps(data))
    bundle = load_dataset("coco", "detection", root, image_size=16)
    counts = sorted(len(t["labels"]) for _, t in _all_items(bundle))
    assert counts == [1, 1, 1]
