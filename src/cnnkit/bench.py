"""``cnnkit bench``: cnnkit and PyTorch side by side, in one process, on the same machine and thread count.

Every figure is the median of ``--repeat`` timed runs after warm-up. PyTorch (when installed) runs with the same
number of threads, in NCHW and channels_last; the better of the two is the reference for each ratio
(ratio = cnnkit speed / PyTorch speed, higher is better). Memory and cold-start figures come from fresh
subprocesses. ``--quick`` shrinks the workloads for a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CONV_SHAPES = [  # (name, N, C, H=W, K, kernel, groups)
    ("3x3 N128 C16 H32 K16", 128, 16, 32, 16, 3, 1),
    ("3x3 N128 C32 H16 K32", 128, 32, 16, 32, 3, 1),
    ("3x3 N128 C64 H8 K64", 128, 64, 8, 64, 3, 1),
    ("3x3 N32 C64 H56 K64", 32, 64, 56, 64, 3, 1),
    ("3x3 N64 C3 H32 K64", 64, 3, 32, 64, 3, 1),
    ("1x1 N128 C256 H14 K64", 128, 256, 14, 64, 1, 1),
    ("dw3x3 N128 C64 H16", 128, 64, 16, 64, 3, 64),
]


def _median_time(fn, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interleaved(fns: dict, repeat: int, warmup: int = 2) -> dict:
    """Median time of each function, timed in turn (a, b, c, a, b, c, ...) so that a shared machine's drift hits
    every contender alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _backends(choice: str | None) -> list[str]:
    """The cnnkit backends to measure: ``all`` of the available ones, one by name, or the default (None)."""
    from .kernels.backend import available_backends, get_backend

    if choice in (None, ""):
        return [get_backend()]
    if choice == "all":
        return available_backends()
    if choice not in available_backends():
        raise SystemExit(f"cnnkit: error: bench: backend {choice!r} is not available here "
                         f"(available: {', '.join(available_backends())})")
    return [choice]


def _torch(threads: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def machine_info(threads: int) -> dict:
    info = {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "threads": threads, "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        info["cpu"] = platform.processor()
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        info["blas"] = "unknown"
    info["env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                                               "OPENBLAS_CORETYPE") if k in os.environ}
    torch = _torch(threads)
    info["torch"] = torch.__version__ if torch else None
    return info


def bench_gemm(repeat: int, quick: bool) -> dict:
    n = 1024 if quick else 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    t = _median_time(lambda: a @ b, repeat)
    result = {"n": n, "numpy_gflops": 2 * n ** 3 / t / 1e9}
    torch = _torch(1)
    if torch is not None:
        torch.set_num_threads(int(os.environ.get("CNNKIT_BENCH_THREADS", "2")))
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        result["torch_gflops"] = 2 * n ** 3 / _median_time(lambda: ta @ tb, repeat) / 1e9
    return result


def _conv_flops(n, c, h, k, ksize, groups) -> float:
    return 2.0 * n * h * h * k * (c // groups) * ksize * ksize


def _channels_last(a: np.ndarray) -> np.ndarray:
    """The same NCHW array with channels-last memory (PyTorch's ``memory_format=torch.channels_last``)."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def bench_convs(repeat: int, quick: bool, ceiling: float, backends=("numpy",)) -> list[dict]:
    import cnnkit as ck
    import cnnkit.functional as F

    torch = _torch(int(os.environ.get("CNNKIT_BENCH_THREADS", "2")))
    rows = []
    for name, n, c, h, k, ks, groups in CONV_SHAPES:
        if quick:
            n = max(2, n // 16)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        w = (rng.standard_normal((k, c // groups, ks, ks), dtype=np.float32) * 0.1)
        g = rng.standard_normal((n, k, h, h), dtype=np.float32)
        pad = ks // 2
        flops = _conv_flops(n, c, h, k, ks, groups)
        fwd, fb = {}, {}
        for backend in backends:
            for channels_last in (False, True):  # like PyTorch below: both layouts, the better one counts
                xl, gl = (_channels_last(x), _channels_last(g)) if channels_last else (x, g)
                xt, wt = ck.Tensor(xl, requires_grad=True), ck.tensor(w, requires_grad=True)

                def ours_fwd(xt=xt, wt=wt, backend=backend):
                    with ck.set_backend(backend), ck.no_grad():
                        F.conv2d(xt, wt, padding=pad, groups=groups)

                def ours_fb(xt=xt, wt=wt, gl=gl, backend=backend):
                    with ck.set_backend(backend):
                        xt.grad = wt.grad = None
                        F.conv2d(xt, wt, padding=pad, groups=groups).backward(gl)

                fwd[(backend, channels_last)], fb[(backend, channels_last)] = ours_fwd, ours_fb
        if torch is not None:
            for layout in (torch.contiguous_format, torch.channels_last):
                tx = torch.from_numpy(x).contiguous(memory_format=layout).requires_grad_()
                tw = torch.from_numpy(w).contiguous(memory_format=layout).requires_grad_()
                tg = torch.from_numpy(g).contiguous(memory_format=layout)

                def t_fwd(tx=tx, tw=tw):
                    with torch.no_grad():
                        torch.nn.functional.conv2d(tx, tw, padding=pad, groups=groups)

                def t_fb(tx=tx, tw=tw, tg=tg):
                    tx.grad = tw.grad = None
                    torch.nn.functional.conv2d(tx, tw, padding=pad, groups=groups).backward(tg)

                fwd[("torch", str(layout))], fb[("torch", str(layout))] = t_fwd, t_fb
        tf, tfb = _interleaved(fwd, repeat), _interleaved(fb, repeat)
        for backend in backends:
            best_f = max(flops / tf[(backend, cl)] / 1e9 for cl in (False, True))
            best_fb = max(3 * flops / tfb[(backend, cl)] / 1e9 for cl in (False, True))
            row = {"workload": name, "backend": backend, "gflop": flops / 1e9, "fwd_gflops": best_f,
                   "fwdbwd_gflops": best_fb, "fwdbwd_fraction_of_gemm": best_fb / ceiling}
            if torch is not None:
                t_f = max(flops / v / 1e9 for key, v in tf.items() if key[0] == "torch")
                t_fb = max(3 * flops / v / 1e9 for key, v in tfb.items() if key[0] == "torch")
                row.update(torch_fwd_gflops=t_f, torch_fwdbwd_gflops=t_fb, fwd_ratio=best_f / t_f,
                           fwdbwd_ratio=best_fb / t_fb)
            rows.append(row)
    return rows


def bench_elementwise(repeat: int, quick: bool, backends=("numpy",)) -> list[dict]:
    import cnnkit as ck
    import cnnkit.functional as F

    torch = _torch(int(os.environ.get("CNNKIT_BENCH_THREADS", "2")))
    shape = (16 if quick else 128, 64, 32, 32)
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    ops = {
        "max_pool2d 2x2": (lambda t: F.max_pool2d(t, 2), lambda t: torch.nn.functional.max_pool2d(t, 2)),
        "batch_norm (train)": (
            lambda t: F.batch_norm(t, rm.copy(), rv.copy(), ck.tensor(gamma, requires_grad=True),
                                   ck.tensor(beta, requires_grad=True), training=True),
            lambda t: torch.nn.functional.batch_norm(t, torch.zeros(64), torch.ones(64),
                                                     torch.ones(64, requires_grad=True),
                                                     torch.zeros(64, requires_grad=True), training=True)),
        "relu": (F.relu, lambda t: torch.relu(t)),
    }
    rows = []
    for name, (ours, theirs) in ops.items():
        out_shape = ours(ck.tensor(x)).shape
        g = np.ones(out_shape, np.float32)
        moved = (2 * x.nbytes + 2 * g.nbytes)  # read x, write y; read dy, write dx
        fns = {}
        for backend in backends:
            for channels_last in (False, True):  # both layouts for both libraries, the better one counts
                xt = ck.Tensor(_channels_last(x) if channels_last else x.copy(), requires_grad=True)
                gl = _channels_last(g) if channels_last else g

                def run_ours(xt=xt, gl=gl, backend=backend):
                    with ck.set_backend(backend):
                        xt.grad = None
                        ours(xt).backward(gl)

                fns[(backend, channels_last)] = run_ours
        if torch is not None:
            for layout in (torch.contiguous_format, torch.channels_last):
                tx = torch.from_numpy(x).contiguous(memory_format=layout).requires_grad_()
                tg = torch.from_numpy(g).contiguous(memory_format=layout)

                def run_torch(tx=tx, tg=tg):
                    tx.grad = None
                    theirs(tx).backward(tg)

                fns[("torch", str(layout))] = run_torch
        times = _interleaved(fns, repeat)
        for backend in backends:
            row = {"workload": f"{name} {shape}", "backend": backend,
                   "gbps": max(moved / v / 1e9 for k, v in times.items() if k[0] == backend)}
            if torch is not None:
                row["torch_gbps"] = max(moved / v / 1e9 for k, v in times.items() if k[0] == "torch")
                row["ratio"] = row["gbps"] / row["torch_gbps"]
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------- whole models
def _torch_lenet5(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def _torch_resnet20(torch):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.pad = cout - cin
            self.stride = stride

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            short = x
            if self.stride != 1 or self.pad:
                short = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad // 2, self.pad // 2))
            return F.relu(out + short)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            layers, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    layers.append(Block(cin, cout, stride if i == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    return ResNet20()


def _torch_resnet18(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.down is None else self.down(x)))

    layers, cin = [], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(3, 2, 1), *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


# name: (input shape, batch (quick batch), PyTorch twin)
MODELS = {"lenet5": ((1, 28, 28), 128, 16, _torch_lenet5), "resnet20": ((3, 32, 32), 128, 16, _torch_resnet20),
          "resnet18": ((3, 224, 224), 16, 2, _torch_resnet18)}


def bench_models(repeat: int, quick: bool, backends=("numpy",), names=None) -> list[dict]:
    """Training steps and inference (eval, no_grad) per model; every cnnkit backend and PyTorch in both layouts
    are timed in turn. Inference on oneDNN includes its automatic conv + batch norm + ReLU fusion."""
    import cnnkit as ck
    import cnnkit.functional as F
    from cnnkit import models, optim

    torch = _torch(int(os.environ.get("CNNKIT_BENCH_THREADS", "2")))
    rows = []
    for name in names or MODELS:
        shape, batch, quick_batch, torch_builder = MODELS[name]
        batch = quick_batch if quick else batch
        x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
        y = np.random.default_rng(1).integers(0, 10, batch)
        train, infer = {}, {}
        for backend in backends:
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

            def infer_once(model=model, xt=xt, backend=backend):
                with ck.set_backend(backend), ck.no_grad():
                    model.eval()
                    model(xt).numpy()

            train[backend], infer[backend] = step, infer_once
        if torch is not None:
            ty = torch.from_numpy(y)
            for layout in (torch.contiguous_format, torch.channels_last):
                tmodel = torch_builder(torch).to(memory_format=layout)
                topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
                tx = torch.from_numpy(x).contiguous(memory_format=layout)

                def tstep(tmodel=tmodel, topt=topt, tx=tx):
                    tmodel.train()
                    loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
                    topt.zero_grad()
                    loss.backward()
                    topt.step()

                def tinfer(tmodel=tmodel, tx=tx):
                    tmodel.eval()
                    with torch.no_grad():
                        tmodel(tx)

                train[f"torch {layout}"], infer[f"torch {layout}"] = tstep, tinfer
        t_train, t_infer = _interleaved(train, repeat), _interleaved(infer, repeat)
        for backend in backends:
            row = {"workload": f"{name} batch {batch}", "backend": backend, "train_img_s": batch / t_train[backend],
                   "infer_img_s": batch / t_infer[backend]}
            if torch is not None:
                best_train = max(batch / v for k, v in t_train.items() if k.startswith("torch"))
                best_infer = max(batch / v for k, v in t_infer.items() if k.startswith("torch"))
                row.update(torch_train_img_s=best_train, torch_infer_img_s=best_infer,
                           train_ratio=row["train_img_s"] / best_train, infer_ratio=row["infer_img_s"] / best_infer)
            rows.append(row)
    return rows


_MEMORY_SCRIPT = {
    "cnnkit": """
import resource, numpy as np, cnnkit as ck, cnnkit.functional as F
{peak}
from cnnkit import models, optim
b = {batch}
x = ck.tensor(np.random.default_rng(0).random((b, 3, 32, 32), dtype=np.float32))
y = ck.tensor(np.random.default_rng(1).integers(0, 10, b))
m = models.get_model('resnet20', num_classes=10); opt = optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
base = peak_kb()
for _ in range(3):
    loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
print(peak_kb(), base)
""",
    "torch": """
import resource, sys, numpy as np, torch
{peak}
sys.path.insert(0, {here!r})
from cnnkit.bench import _torch_resnet20
torch.set_num_threads(2)
b = {batch}
x = torch.from_numpy(np.random.default_rng(0).random((b, 3, 32, 32), dtype=np.float32))
y = torch.from_numpy(np.random.default_rng(1).integers(0, 10, b))
m = _torch_resnet20(torch); opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
base = peak_kb()
for _ in range(3):
    loss = torch.nn.functional.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
print(peak_kb(), base)
""",
}


# Peak RSS of this process in KiB. On Linux ru_maxrss is inherited from the parent at fork (a child started by
# a large benchmark process would report the parent's peak), so the per-process VmHWM is read instead.
_PEAK = """
def peak_kb():
    try:
        with open('/proc/self/status') as f:
            return int(next(line.split()[1] for line in f if line.startswith('VmHWM:')))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""


def bench_memory(quick: bool, backend: str | None = None) -> dict:
    """Peak resident memory (MB) of the ResNet-20 training step, each library in its own fresh process."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = {}
    env = dict(os.environ, **({"CNNKIT_BACKEND": backend} if backend else {}))
    for lib, script in _MEMORY_SCRIPT.items():
        if lib == "torch" and _torch(1) is None:
            continue
        code = script.format(batch=16 if quick else 128, here=here, peak=_PEAK)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
        if out.returncode:
            result[f"{lib}_error"] = out.stderr.strip().splitlines()[-1:]
            continue
        peak, base = map(int, out.stdout.split())
        result[f"{lib}_peak_mb"] = peak / 1024
        result[f"{lib}_step_mb"] = (peak - base) / 1024  # growth above the process after building the model
    if "cnnkit_peak_mb" in result and "torch_peak_mb" in result:
        result["peak_ratio"] = result["cnnkit_peak_mb"] / result["torch_peak_mb"]
    return result


_COLD_SCRIPT = """
import time; t0 = time.perf_counter()
import cnnkit as ck
t1 = time.perf_counter()
import numpy as np, cnnkit.functional as F
from cnnkit import models, optim
x = ck.tensor(np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)); y = ck.tensor(np.arange(8) % 10)
m = models.get_model('resnet20', num_classes=10); opt = optim.SGD(m.parameters(), lr=0.01)
t2 = time.perf_counter()
loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""


def bench_cold_start(backend: str | None = None) -> dict:
    """Import time and first training step in fresh processes: with an empty kernel cache, then a warm one (the
    first step includes creating every oneDNN primitive)."""
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, **({"CNNKIT_BACKEND": backend} if backend else {}))
        for label in ("cold", "warm"):
            out = subprocess.run([sys.executable, "-c", _COLD_SCRIPT], capture_output=True, text=True, env=env,
                                 timeout=600)
            if out.returncode:
                result[f"{label}_error"] = out.stderr.strip().splitlines()[-1:]
                continue
            imp, first = map(float, out.stdout.split())
            result[f"{label}_import_s"], result[f"{label}_first_step_s"] = imp, first
    return result


SECTIONS = ["gemm", "conv", "elementwise", "models", "memory", "cold"]


def run(sections=None, repeat: int = 5, quick: bool = False, threads: int = 2, backend: str | None = None) -> dict:
    sections = sections or SECTIONS
    os.environ["CNNKIT_BENCH_THREADS"] = str(threads)
    # PyTorch runs a fixed thread count; so does cnnkit here (no shrinking of oneDNN's pool to the free cores),
    # unless the environment says otherwise: the ratios compare the libraries at the same --threads
    os.environ.setdefault("CNNKIT_ADAPT_THREADS", "0")
    import cnnkit as ck

    ck.set_num_threads(threads)
    backends = _backends(backend)
    results = {"machine": machine_info(threads), "repeat": repeat, "quick": quick, "backends": backends}
    from .kernels.backend import describe_line

    results["machine"]["runtime"] = describe_line()
    gemm = bench_gemm(repeat, quick)
    results["gemm"] = gemm
    if "conv" in sections:
        results["conv"] = bench_convs(repeat, quick, gemm["numpy_gflops"], backends)
    if "elementwise" in sections:
        results["elementwise"] = bench_elementwise(repeat, quick, backends)
    if "models" in sections:
        results["models"] = bench_models(repeat, quick, backends)
    if "memory" in sections:
        results["memory"] = {b: bench_memory(quick, b) for b in backends}
    if "cold" in sections:
        results["cold_start"] = {b: bench_cold_start(b) for b in backends}
    return results


def _fmt(v, spec=".2f"):
    """``v`` formatted by ``spec``; a missing figure is a '-' of the same width (the columns stay aligned)."""
    if v is not None:
        return format(v, spec)
    width = spec.split(".")[0]
    return "-".rjust(int(width)) if width.isdigit() else "-"


TORCH_HINT = ("PyTorch is not installed, so only cnnkit is measured; to compare with it, install the peer: "
              "pip install torch==2.13.0 (CPU wheels: --index-url https://download.pytorch.org/whl/cpu)")


def format_table(r: dict) -> str:
    m = r["machine"]
    lines = [f"cnnkit bench - {m.get('cpu')} ({m['cpu_count']} cores), {m['threads']} threads, numpy {m['numpy']} "
             f"({m['blas']}), torch {m['torch']}; median of {r['repeat']} runs" + (" [quick]" if r["quick"] else "")]
    if m.get("runtime"):
        lines.append(m["runtime"])
    if not m.get("torch"):
        lines.append(TORCH_HINT)
    g = r["gemm"]
    lines.append(f"GEMM {g['n']}^3 float32: numpy {g['numpy_gflops']:.1f} GFLOP/s, torch "
                 f"{_fmt(g.get('torch_gflops'), '.1f')} GFLOP/s")
    if "conv" in r:
        lines.append("")
        lines.append(f"{'convolution':28s} {'backend':7s} "
                     f"{'fwd GF/s':>9s} {'torch':>7s} {'ratio':>6s} {'f+b GF/s':>9s} {'torch':>7s} "
                     f"{'ratio':>6s} {'%GEMM':>6s}")
        for row in r["conv"]:
            lines.append(f"{row['workload']:28s} {row.get('backend', 'numpy'):7s} "
                         f"{row['fwd_gflops']:9.1f} {_fmt(row.get('torch_fwd_gflops'), '7.1f')} "
                         f"{_fmt(row.get('fwd_ratio'), '6.2f')} {row['fwdbwd_gflops']:9.1f} "
                         f"{_fmt(row.get('torch_fwdbwd_gflops'), '7.1f')} {_fmt(row.get('fwdbwd_ratio'), '6.2f')} "
                         f"{100 * row['fwdbwd_fraction_of_gemm']:5.0f}%")
    if "elementwise" in r:
        lines.append("")
        lines.append(f"{'fwd+bwd bandwidth':40s} {'backend':7s} {'GB/s':>7s} {'torch':>7s} {'ratio':>6s}")
        for row in r["elementwise"]:
            lines.append(f"{row['workload']:40s} {row.get('backend', 'numpy'):7s} "
                         f"{row['gbps']:7.1f} {_fmt(row.get('torch_gbps'), '7.1f')} "
                         f"{_fmt(row.get('ratio'), '6.2f')}")
    if "models" in r:
        lines.append("")
        lines.append(f"{'model':22s} {'backend':7s} "
                     f"{'train img/s':>11s} {'torch':>8s} {'ratio':>6s} {'infer img/s':>11s} "
                     f"{'torch':>8s} {'ratio':>6s}")
        for row in r["models"]:
            lines.append(f"{row['workload']:22s} {row.get('backend', 'numpy'):7s} {row['train_img_s']:11.0f} "
                         f"{_fmt(row.get('torch_train_img_s'), '8.0f')} {_fmt(row.get('train_ratio'), '6.2f')} "
                         f"{row['infer_img_s']:11.0f} "
                         f"{_fmt(row.get('torch_infer_img_s'), '8.0f')} {_fmt(row.get('infer_ratio'), '6.2f')}")
    if "memory" in r:
        per_backend = r["memory"] if "cnnkit_peak_mb" not in r["memory"] else {"numpy": r["memory"]}
        lines.append("")
        for backend, mem in per_backend.items():
            lines.append(f"ResNet-20 training step peak RSS ({backend}): cnnkit "
                         f"{_fmt(mem.get('cnnkit_peak_mb'), '.0f')} MB, torch {_fmt(mem.get('torch_peak_mb'), '.0f')} "
                         f"MB, ratio {_fmt(mem.get('peak_ratio'))}")
    if "cold_start" in r:
        per_backend = r["cold_start"] if "cold_import_s" not in r["cold_start"] else {"numpy": r["cold_start"]}
        for backend, c in per_backend.items():
            lines.append(f"import cnnkit ({backend}): cold {_fmt(c.get('cold_import_s'))} s, warm "
                         f"{_fmt(c.get('warm_import_s'))} s; first ResNet-20 step: cold cache "
                         f"{_fmt(c.get('cold_first_step_s'))} s, warm {_fmt(c.get('warm_first_step_s'))} s")
    return "\n".join(lines)


def bench_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="cnnkit bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS} (default: all)")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed repetitions per figure (median reported; default 5)")
    p.add_argument("--threads", type=int, default=2, help="threads for both libraries (default 2)")
    p.add_argument("--backend", default=None,
                   help="cnnkit backend(s) to measure: numpy, onednn or all (default: the one in use)")
    p.add_argument("--quick", action="store_true", help="small workloads: a smoke test, not a measurement")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--output", default=None, help="also write the JSON results to this file")
    args = p.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"cnnkit: error: bench: unknown sections {unknown}; expected some of {SECTIONS}", file=sys.stderr)
        return 2
    results = run(sections, repeat=max(1, args.repeat), quick=args.quick, threads=args.threads,
                  backend=args.backend)
    if args.output:
        from .atomic import write_text

        write_text(args.output, json.dumps(results, indent=2))
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0
