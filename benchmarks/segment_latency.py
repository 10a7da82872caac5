"""Seconds `cnnkit segment` spends per image after start-up (model loaded, kernels compiled): the median of
``--repeat`` calls of :func:`cnnkit.runs.segment_images` on a 64x64 and a 512x512 image, reading the image and
writing both PNGs included.

    python benchmarks/segment_latency.py runs/unet/best.ckpt --repeat 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cnnkit.runs import load_run, segment_images


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a segmentation checkpoint written by cnnkit train")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sizes", default="64,512")
    args = parser.parse_args(argv)
    loaded = load_run(args.checkpoint)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        for side in (int(s) for s in args.sizes.split(",")):
            image = out / f"scene{side}.png"
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(image)
            segment_images(loaded, [image], out)  # warm-up: first calls compile and cache
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                model = segment_images(loaded, [image], out)[0]["seconds"]
                times.append((time.perf_counter() - start, model))
            total, model = np.median(np.array(times), axis=0)
            print(f"{side}x{side}: {total:.3f} s per image ({model:.3f} s in the model), median of {args.repeat}")


if __name__ == "__main__":
    main()
