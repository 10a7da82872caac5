"""Training steps beside a busy neighbour process: how much each library slows down.

    python benchmarks/contention.py                    # LeNet-5 and ResNet-20, batch 128, 2 threads
    python benchmarks/contention.py --models lenet5 --repeat 9 --neighbours 1

For each model the cnnkit backends and PyTorch (better of NCHW and channels-last) are timed in turn, first alone,
then with ``--neighbours`` processes each spinning one core (pure Python, like a busy data loader or another
training job). Slowdown = median step time with the neighbour / without; lower is better, 1.0 is no slowdown.
Every library uses ``--threads`` threads (PyTorch: torch.set_num_threads; cnnkit: cnnkit.set_num_threads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="lenet5,resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--neighbours", type=int, default=1)
    p.add_argument("--output", default=None, help="also write the JSON results here")
    args = p.parse_args(argv)

    import torch

    import cnnkit as ck
    import cnnkit.functional as F
    from cnnkit import models, optim
    from cnnkit.bench import MODELS, _interleaved

    torch.set_num_threads(args.threads)
    ck.set_num_threads(args.threads)
    results = {"threads": args.threads, "neighbours": args.neighbours, "batch": args.batch, "rows": []}
    for name in args.models.split(","):
        shape, _, _, torch_builder = MODELS[name]
        x = np.random.default_rng(0).random((args.batch, *shape), dtype=np.float32)
        y = np.random.default_rng(1).integers(0, 10, args.batch)
        fns = {}
        for backend in ck.available_backends():
            ck.manual_seed(0)
            model = models.get_model(name, num_classes=10)
            opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            xt, yt = ck.tensor(x), ck.tensor(y)

            def step(model=model, opt=opt, xt=xt, yt=yt, backend=backend):
                with ck.set_backend(backend):
                    loss = F.cross_entropy(model(xt), yt)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

            fns[f"cnnkit {backend}"] = step
        ty = torch.from_numpy(y)
        for layout in (torch.contiguous_format, torch.channels_last):
            tmodel = torch_builder(torch).to(memory_format=layout)
            topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
            tx = torch.from_numpy(x).contiguous(memory_format=layout)

            def tstep(tmodel=tmodel, topt=topt, tx=tx, ty=ty):
                loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
                topt.zero_grad()
                loss.backward()
                topt.step()

            fns[f"torch {str(layout).split('.')[-1]}"] = tstep
        quiet = _interleaved(fns, args.repeat)
        spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.neighbours)]
        try:
            busy = _interleaved(fns, args.repeat)
        finally:
            for proc in spinners:
                proc.kill()
                proc.wait()
        best = {}
        for key in fns:
            lib = "torch" if key.startswith("torch") else key
            if lib not in best or quiet[key] < quiet[best[lib]]:
                best[lib] = key
        for lib, key in best.items():
            row = {"model": name, "library": lib, "variant": key, "quiet_s": quiet[key], "busy_s": busy[key],
                   "slowdown": busy[key] / quiet[key]}
            results["rows"].append(row)
            print(f"{name:9s} {lib:14s} alone {quiet[key] * 1e3:8.1f} ms   with {args.neighbours} busy "
                  f"neighbour(s) {busy[key] * 1e3:8.1f} ms   slowdown {row['slowdown']:.2f}x", flush=True)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
