"""CPU time per training step and per inference, cnnkit's backends against PyTorch, one thread each.

    python benchmarks/cpu_time.py                          # LeNet-5 and ResNet-20 at batch 128, ResNet-18 at 16
    python benchmarks/cpu_time.py --models resnet20 --repeat 9 --output benchmarks/results/cpu.json

On a machine shared with other work, wall-clock figures move 2-20x with the neighbours' load; the CPU time a
single-threaded process spends on a step moves much less (it is not charged while descheduled). This measures
that: every contender runs with one thread (``cnnkit.set_num_threads(1)``, ``torch.set_num_threads(1)``), in turn,
and the median of ``--repeat`` steps of ``time.process_time()`` is reported, PyTorch taking the better of NCHW and
channels-last. It says how much work each library does per step, not how well it scales over threads: for that,
use ``cnnkit bench`` on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="lenet5,resnet20,resnet18")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--output", default=None, help="also write the JSON results here")
    args = p.parse_args(argv)

    import torch

    import cnnkit as ck
    import cnnkit.functional as F
    from cnnkit import models, optim
    from cnnkit.bench import MODELS

    torch.set_num_threads(1)
    ck.set_num_threads(1)
    rows = []
    for name in args.models.split(","):
        shape, batch, _, torch_builder = MODELS[name]
        x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
        y = np.random.default_rng(1).integers(0, 10, batch)
        fns = {}
        for backend in ck.available_backends():
            ck.manual_seed(0)
            model = models.get_model(name, num_classes=10)
            opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            xt, yt = ck.tensor(x), ck.tensor(y)

            def step(model=model, opt=opt, xt=xt, yt=yt, backend=backend):
                with ck.set_backend(backend):
                    model.train()
                    loss = F.cross_entropy(model(xt), yt)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

            def infer(model=model, xt=xt, backend=backend):
                with ck.set_backend(backend), ck.no_grad():
                    model.eval()
                    model(xt).numpy()

            fns[("cnnkit " + backend, "train")], fns[("cnnkit " + backend, "infer")] = step, infer
        ty = torch.from_numpy(y)
        for layout in (torch.contiguous_format, torch.channels_last):
            tmodel = torch_builder(torch).to(memory_format=layout)
            topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
            tx = torch.from_numpy(x).contiguous(memory_format=layout)

            def tstep(tmodel=tmodel, topt=topt, tx=tx, ty=ty):
                tmodel.train()
                loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
                topt.zero_grad()
                loss.backward()
                topt.step()

            def tinfer(tmodel=tmodel, tx=tx):
                tmodel.eval()
                with torch.no_grad():
                    tmodel(tx)

            label = "torch " + str(layout).split(".")[-1]
            fns[(label, "train")], fns[(label, "infer")] = tstep, tinfer
        for fn in fns.values():  # warm-up: primitives, caches, compiled kernels
            fn()
            fn()
        times = {key: [] for key in fns}
        for _ in range(args.repeat):
            for key, fn in fns.items():
                start = time.process_time()
                fn()
                times[key].append(time.process_time() - start)
        medians = {key: statistics.median(v) for key, v in times.items()}
        for kind in ("train", "infer"):
            torch_best = min(v for (lib, k), v in medians.items() if k == kind and lib.startswith("torch"))
            for (lib, k), v in medians.items():
                if k == kind and lib.startswith("cnnkit"):
                    row = {"model": name, "batch": batch, "what": kind, "library": lib, "cpu_s": v,
                           "torch_cpu_s": torch_best, "ratio": torch_best / v}
                    rows.append(row)
                    print(f"{name:9s} batch {batch:3d} {kind:5s} {lib:14s} {v * 1e3:8.1f} ms CPU, PyTorch "
                          f"{torch_best * 1e3:8.1f} ms: ratio {row['ratio']:.2f}", flush=True)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump({"threads": 1, "repeat": args.repeat, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
