"""Run under mpiexec (or alone) by the distributed tests: train a small net data-parallel through the Trainer and
save rank 0's weights, or exercise one failure.

    python dp_worker.py train OUT.npz [--bn] [--sync-bn] [--optimizer sgd|adam] [--epochs 2] [--batch 24]
    python dp_worker.py hang          # rank 1 stops answering: the others must stop with a clear error
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import distributed as dist
from cnnkit import optim
from cnnkit.data import ArrayDataset
from cnnkit.training import Trainer


def small_net(bn: bool) -> nn.Module:
    if bn:
        return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))


def data(n: int = 100):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 5, n)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.5
    x[np.arange(n), 0, y, y] += 2.0  # learnable: the class lights a pixel
    return ArrayDataset(x, y)


def train(args) -> None:
    group = dist.world()
    ck.manual_seed(0)
    model = small_net(args.bn)
    if args.sync_bn:
        dist.convert_sync_batchnorm(model, group)
    if args.optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-3)
    parallel = dist.DataParallel(group, bucket_mb=args.bucket_mb, overlap=args.overlap) if group.size > 1 else None
    loader = dist.ShardedLoader(data(), batch_size=args.batch, shuffle=True, rank=group.rank, size=group.size)
    trainer = Trainer(model, opt, parallel=parallel)
    history = trainer.fit(loader, epochs=args.epochs)
    if group.rank == 0:
        np.savez(args.out, loss=np.array([h["loss"] for h in history.epochs]),
                 **{k: v for k, v in model.state_dict().items()})


def hang(args) -> None:
    group = dist.world(timeout=args.timeout)
    model = small_net(False)
    parallel = dist.DataParallel(group)
    parallel.setup(model)
    if group.rank == 1:
        time.sleep(600)  # alive but silent
    loss = ck.functional.sum(model(ck.tensor(np.ones((2, 1, 8, 8), np.float32))))
    try:
        with parallel.gradients(model, weight=2):
            loss.backward()
    except dist.PeerLostError as err:
        print(f"cnnkit: error: {err}", file=sys.stderr, flush=True)
        group.abort(3)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "hang"])
    p.add_argument("out", nargs="?")
    p.add_argument("--bn", action="store_true")
    p.add_argument("--sync-bn", action="store_true")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--overlap", action="store_true")
    p.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args()
    train(a) if a.mode == "train" else hang(a)
