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
            fg = rng.uniform(0.0, 1.0, 3)
            for _ in range(20):
                if np.linalg.norm(fg - bg) >= 0.5:
                    break
                fg = rng.uniform(0.0, 1.0, 3)
            else:
                fg = np.where(bg < 0.5, bg + 0.5, bg - 0.5)
            img = np.where(shape[None], fg[:, None, None], bg[:, None, None])
            img = img + rng.normal(0.0, 0.05, img.shape)
            images[i] = np.clip(img, 0.0, 1.0)
            masks[i][shape] = 1 + labels[i]
            rows, cols = np.flatnonzero(shape.any(axis=1)), np.flatnonzero(shape.any(axis=0))
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
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
