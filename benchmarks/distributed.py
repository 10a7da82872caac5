"""Data-parallel throughput and Allreduce cost, measured: run it alone and under mpiexec.

    python benchmarks/distributed.py --model lenet5 --batch 64 --steps 30
    mpiexec -n 2 python benchmarks/distributed.py --model lenet5 --batch 64 --steps 30 [--overlap]
    python benchmarks/distributed.py --allreduce 1,4,16,64,256   # MiB: Allreduce time alone (under mpiexec)

Prints one JSON line (rank 0): samples/s over the timed steps, seconds per step, the time spent waiting for the
gradient Allreduce per step, the bucket count and bytes reduced per step.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit import distributed as dist
from cnnkit import models, optim


def train_steps(args) -> dict:
    group = dist.world()
    c, h, w = models.model_input_size(args.model)
    ck.manual_seed(0)
    model = models.get_model(args.model, num_classes=10)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    parallel = dist.DataParallel(group, bucket_mb=args.bucket_mb, overlap=args.overlap)
    parallel.setup(model)
    rng = np.random.default_rng(group.rank)
    lo, hi = dist.shard_bounds(args.batch, group.rank, group.size)
    x = ck.tensor(rng.standard_normal((hi - lo, c, h, w)).astype(np.float32))
    y = ck.tensor(rng.integers(0, 10, hi - lo))
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        with parallel.local_rng():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        with parallel.gradients(model, weight=hi - lo):
            loss.backward()
        opt.step()
        if step == args.warmup - 1:
            parallel.stats.update(steps=0, allreduce_seconds=0.0)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    per_step = float(np.median(times))
    steps = max(parallel.stats["steps"], 1)
    return {"model": args.model, "processes": group.size, "global_batch": args.batch, "overlap": args.overlap,
            "seconds_per_step": round(per_step, 4), "samples_per_second": round(args.batch / per_step, 1),
            "allreduce_wait_per_step": round(parallel.stats["allreduce_seconds"] / steps, 5),
            "buckets": parallel.stats["buckets"], "bytes_per_step": parallel.stats["bytes_per_step"],
            "threads_per_process": ck.kernels._parallel.get_num_threads()}


def allreduce_times(sizes_mb, repeats: int = 10) -> dict:
    group = dist.world()
    out = {}
    for mb in sizes_mb:
        buf = np.ones(int(mb * 2 ** 20 / 4), dtype=np.float32)
        group.allreduce_(buf)
        start = time.perf_counter()
        for _ in range(repeats):
            group.allreduce_(buf)
        out[f"{mb} MiB"] = round((time.perf_counter() - start) / repeats, 5)
    return {"processes": group.size, "allreduce_seconds": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lenet5")
    p.add_argument("--batch", type=int, default=64, help="global batch")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--overlap", action="store_true")
    p.add_argument("--allreduce", default=None, help="comma-separated MiB sizes: time the Allreduce alone")
    args = p.parse_args()
    result = allreduce_times([float(s) for s in args.allreduce.split(",")]) if args.allreduce else train_steps(args)
    if dist.world().rank == 0:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
