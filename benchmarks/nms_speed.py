"""Seconds of :func:`cnnkit.ops.nms` on N random boxes (median of ``--repeat`` calls after a compiling call).

    python benchmarks/nms_speed.py --boxes 10000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cnnkit.ops import nms


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (args.boxes, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 100, (args.boxes, 2))], axis=1).astype(np.float32)
    scores = rng.random(args.boxes).astype(np.float32)
    nms(boxes[:10], scores[:10], 0.5)  # compile
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        keep = nms(boxes, scores, 0.5)
        times.append(time.perf_counter() - start)
    print(f"nms on {args.boxes} boxes: {np.median(times) * 1e3:.1f} ms (median of {args.repeat}), kept {len(keep)}")


if __name__ == "__main__":
    main()
