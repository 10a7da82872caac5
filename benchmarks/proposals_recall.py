"""Recall of selective search on the Shapes detection test scenes: the share of ground-truth boxes that some
proposal overlaps by IoU >= 0.5 and >= 0.7, at several proposal budgets, with the seconds per image.

    python benchmarks/proposals_recall.py --images 500 --mode fast
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cnnkit.data.synthetic import ShapeScenes
from cnnkit.ops import box_iou, selective_search


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--mode", default="fast", choices=("fast", "quality"))
    parser.add_argument("--budgets", default="10,25,50,100,200,2000")
    args = parser.parse_args(argv)
    scenes = ShapeScenes(n=args.images, seed=0, train=False, target="boxes")
    selective_search(scenes.data[0], mode=args.mode)  # compile
    start, cpu = time.perf_counter(), time.process_time()
    proposals = [selective_search(image, mode=args.mode) for image in scenes.data]
    wall, cpu = (time.perf_counter() - start) / args.images, (time.process_time() - cpu) / args.images
    counts = np.array([len(p) for p in proposals])
    print(f"mode {args.mode}: {args.images} images, {wall * 1e3:.1f} ms wall / {cpu * 1e3:.1f} ms CPU per image, "
          f"proposals per image mean {counts.mean():.0f} (min {counts.min()}, max {counts.max()})")
    total = sum(len(b) for b in scenes.boxes)
    for budget in map(int, args.budgets.split(",")):
        best = np.concatenate([box_iou(gt, p[:budget]).max(1) for gt, p in zip(scenes.boxes, proposals, strict=True)
                               if len(gt)])
        print(f"  top {budget:>5}: recall@0.5 {np.mean(best >= 0.5):.3f}  recall@0.7 {np.mean(best >= 0.7):.3f}  "
              f"({total} objects)")


if __name__ == "__main__":
    main()
