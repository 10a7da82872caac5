"""Shapes: a seeded synthetic set of circles, squares and triangles, with masks and boxes."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError
from .dataset import Dataset, _check_callable, check_index


def _draw_mask(kind: int, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean (size, size) mask of one shape inscribed in the circle (cx, cy, r); pixel centres at +0.5."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dx, dy = x - cx, y - cy
    if kind == 0:  # circle
        return dx * dx + dy * dy <= r * r
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's rotated frame
    if kind == 1:  # square inscribed in the circle
        h = r / np.sqrt(2.0)
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    # equilateral triangle inscribed in the circle: inside all three edges (vertices counter-clockwise)
    verts = [(r * np.cos(t), r * np.sin(t)) for t in (-np.pi / 2, np.pi * 5 / 6, np.pi / 6)]
    inside = np.ones((size, size), dtype=bool)
    for (x0, y0), (x1, y1) in zip(verts, verts[1:] + verts[:1], strict=True):
        inside &= (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) <= 1e-9
    return inside


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random RGB colour at Euclidean distance >= 0.5 from ``background`` (20 draws, then a shifted copy)."""
    for _ in range(20):
        colour = rng.uniform(0.0, 1.0, 3)
        if np.linalg.norm(colour - background) >= 0.5:
            return colour
    return np.where(background < 0.5, background + 0.5, background - 0.5)


def _tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` of a non-empty boolean mask in pixel-edge coordinates."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


class Shapes(Dataset):
    """Seeded synthetic colour images (3, size, size), each with one circle, square or triangle.

    Every image has a random background colour plus Gaussian noise (std 0.05) and one shape of a contrasting
    random colour, random size (radius 15-35% of ``size``), position (fully inside the image) and rotation.
    Classes are balanced; ``classes = ['circle', 'square', 'triangle']``. The same ``(n, size, seed, train)``
    always gives the same images; ``train=False`` draws from a different stream of the same seed.

    Items are ``(image, label)``, then ``mask`` if ``with_masks`` (int64 (size, size): 0 background,
    1 + class on the shape) and ``box`` if ``with_boxes`` (float32 ``(x1, y1, x2, y2)``, the tight box of
    the mask in pixel-edge coordinates: pixel ``(row i, col j)`` spans ``[j, j+1] x [i, i+1]``).
    ``transform`` applies to the image only (a geometric transform would no longer match mask and box).
    """

    classes = ["circle", "square", "triangle"]

    def __init__(
        self,
        n: int = 1000,
        size: int = 32,
        seed: int = 0,
        train: bool = True,
        transform=None,
        target_transform=None,
        with_masks: bool = False,
        with_boxes: bool = False,
    ):
        for what, value, low in (("n", n, 1), ("size", size, 8)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise InputError(f"Shapes: {what} must be an int >= {low}, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise InputError(f"Shapes: seed must be a non-negative int, got {seed!r}")
        _check_callable(transform, "Shapes", "transform")
        _check_callable(target_transform, "Shapes", "target_transform")
        self.n, self.size, self.seed, self.train = int(n), int(size), int(seed), bool(train)
        self.transform, self.target_transform = transform, target_transform
        self.with_masks, self.with_boxes = bool(with_masks), bool(with_boxes)
        self.data, self.targets, self.masks, self.boxes = self._generate()

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def _generate(self):
        n, size = self.n, self.size
        rng = np.random.default_rng([self.seed, 0 if self.train else 1])
        labels = rng.permutation(np.arange(n) % len(self.classes)).astype(np.int64)
        images = np.empty((n, 3, size, size), dtype=np.float32)
        masks = np.zeros((n, size, size), dtype=np.uint8)
        boxes = np.empty((n, 4), dtype=np.float32)
        for i in range(n):
            r = max(rng.uniform(0.15, 0.35) * size, 1.5)
            cx, cy = rng.uniform(r, size - r, 2)
            shape = _draw_mask(int(labels[i]), size, cx, cy, r, rng.uniform(0, 2 * np.pi))
            if not shape.any():  # cannot happen for size >= 8, kept as a guard
                shape[int(cy), int(cx)] = True
            bg = rng.uniform(0.0, 1.0, 3)
            fg = _contrasting_colour(rng, bg)
            img = np.where(shape[None], fg[:, None, None], bg[:, None, None])
            img = img + rng.normal(0.0, 0.05, img.shape)
            images[i] = np.clip(img, 0.0, 1.0)
            masks[i][shape] = 1 + labels[i]
            boxes[i] = _tight_box(shape)
        return images, labels, masks, boxes

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        i = check_index(index, len(self), "Shapes")
        image, label = self.data[i].copy(), int(self.targets[i])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        item = [image, label]
        if self.with_masks:
            item.append(self.masks[i].astype(np.int64))
        if self.with_boxes:
            item.append(self.boxes[i].copy())
        return tuple(item)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """``(images, labels[, masks][, boxes])`` of the whole set, as the items would be batched."""
        return self._get_batch(np.arange(self.n), force=True)

    def _get_batch(self, indices, force: bool = False):
        if not force and (self.transform is not None or self.target_transform is not None):
            return None
        out = [self.data[indices], self.targets[indices]]
        if self.with_masks:
            out.append(self.masks[indices].astype(np.int64))
        if self.with_boxes:
            out.append(self.boxes[indices])
        return tuple(out)

    def __repr__(self) -> str:
        return f"Shapes(n={self.n}, size={self.size}, seed={self.seed}, train={self.train})"


class ShapeScenes(Dataset):
    """Seeded synthetic scenes (3, size, size) of several circles, squares and triangles, with masks and boxes.

    Each image has a random background colour plus Gaussian noise (std 0.05) and between ``min_objects`` and
    ``max_objects`` shapes (uniform count, so some images are empty when ``min_objects`` is 0), each of a
    random contrasting colour, radius 10-22% of ``size``, position (fully inside the image) and rotation. A
    shape is placed only if its box overlaps every earlier box by IoU <= ``max_overlap``; later shapes are
    drawn over earlier ones, so shapes may partly occlude each other.

    ``target`` chooses the items:

    - ``"mask"``: ``(image, mask)``, mask int64 (size, size): 0 background, 1 + class on the visible shape;
    - ``"boxes"``: ``(image, {"boxes": (K, 4) float32 xyxy, "labels": (K,) int64})`` as torchvision's
      detection datasets, labels 0-based indices into ``classes``, boxes the tight boxes of the whole shapes in
      pixel-edge coordinates (pixel ``(row i, col j)`` spans ``[j, j+1] x [i, i+1]``);
    - ``"both"``: ``(image, mask, boxes_dict)``.

    ``transform`` applies to the image only. The same arguments always give the same scenes; ``train=False``
    draws from a different stream of the same seed.
    """

    classes = Shapes.classes

    def __init__(self, n: int = 1000, size: int = 64, seed: int = 0, train: bool = True, min_objects: int = 0,
                 max_objects: int = 4, max_overlap: float = 0.3, target: str = "mask", transform=None):
        for what, value, low in (("n", n, 1), ("size", size, 16), ("seed", seed, 0), ("min_objects", min_objects, 0),
                                 ("max_objects", max_objects, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise InputError(f"ShapeScenes: {what} must be an int >= {low}, got {value!r}")
        if max_objects < min_objects:
            raise InputError(f"ShapeScenes: max_objects must be >= min_objects ({min_objects}), got {max_objects}")
        if not isinstance(max_overlap, numbers.Real) or not 0.0 <= max_overlap <= 1.0:
            raise InputError(f"ShapeScenes: max_overlap must be a number in [0, 1], got {max_overlap!r}")
        if target not in ("mask", "boxes", "both"):
            raise InputError(f"ShapeScenes: target must be 'mask', 'boxes' or 'both', got {target!r}")
        _check_callable(transform, "ShapeScenes", "transform")
        self.n, self.size, self.seed, self.train = int(n), int(size), int(seed), bool(train)
        self.min_objects, self.max_objects, self.max_overlap = int(min_objects), int(max_objects), float(max_overlap)
        self.target, self.transform = target, transform
        self.data, self.masks, self.boxes, self.labels = self._generate()

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def _generate(self):
        n, size = self.n, self.size
        rng = np.random.default_rng([self.seed, 2 if self.train else 3])
        images = np.empty((n, 3, size, size), dtype=np.float32)
        masks = np.zeros((n, size, size), dtype=np.uint8)
        all_boxes, all_labels = [], []
        for i in range(n):
            bg = rng.uniform(0.0, 1.0, 3)
            img = np.broadcast_to(bg[:, None, None], (3, size, size)).copy()
            boxes, labels = [], []
            for _ in range(int(rng.integers(self.min_objects, self.max_objects + 1))):
                for _try in range(50):
                    kind = int(rng.integers(len(self.classes)))
                    r = rng.uniform(0.10, 0.22) * size
                    cx, cy = rng.uniform(r, size - r, 2)
                    shape = _draw_mask(kind, size, cx, cy, r, rng.uniform(0, 2 * np.pi))
                    if not shape.any():
                        continue
                    box = _tight_box(shape)
                    if all(_box_iou(box, other) <= self.max_overlap for other in boxes):
                        break
                else:
                    continue  # no room left for another shape
                img[:, shape] = _contrasting_colour(rng, bg)[:, None]
                masks[i][shape] = 1 + kind
                boxes.append(box)
                labels.append(kind)
            images[i] = np.clip(img + rng.normal(0.0, 0.05, img.shape), 0.0, 1.0)
            all_boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
            all_labels.append(np.asarray(labels, dtype=np.int64))
        return images, masks, all_boxes, all_labels

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        i = check_index(index, len(self), "ShapeScenes")
        image = self.data[i].copy()
        if self.transform is not None:
            image = self.transform(image)
        mask = self.masks[i].astype(np.int64)
        boxes = {"boxes": self.boxes[i].copy(), "labels": self.labels[i].copy()}
        if self.target == "mask":
            return image, mask
        if self.target == "boxes":
            return image, boxes
        return image, mask, boxes

    def _get_batch(self, indices):
        if self.transform is not None or self.target != "mask":
            return None
        return self.data[indices], self.masks[indices].astype(np.int64)

    def __repr__(self) -> str:
        return (f"ShapeScenes(n={self.n}, size={self.size}, seed={self.seed}, train={self.train}, "
                f"objects={self.min_objects}..{self.max_objects}, target={self.target!r})")


def _box_iou(a: tuple, b: tuple) -> float:
    """IoU of two xyxy boxes (plain Python; the vectorised version is ``cnnkit.ops.box_iou``)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
