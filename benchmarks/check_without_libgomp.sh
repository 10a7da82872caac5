#!/usr/bin/env bash
# Proves that the README's install brings everything the oneDNN backend needs on a machine without GNU OpenMP:
# a fresh virtual environment, `pip install -e <repo>`, then a process in which the system's libgomp.so.1 cannot be
# loaded (a private mount namespace with an empty file mounted over it; needs root, or a user namespace that
# allows mounts). The check runs a convolution and a training step on the oneDNN backend and compares them with
# the reference kernels, and prints which OpenMP runtime is mapped.
#
#     bash benchmarks/check_without_libgomp.sh            # uses a temporary folder, removed afterwards
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q -e "$repo"
echo "installed size of the oneDNN backend's wheels:"
"$work/venv/bin/python" - <<'PY'
from importlib import metadata
import os
total = 0
for name in ("onednn-cpu-gomp", "cmeel-libomp", "cmeel"):
    dist = metadata.distribution(name)
    size = sum(os.path.getsize(dist.locate_file(f)) for f in dist.files if os.path.exists(dist.locate_file(f)))
    total += size
    print(f"  {name} {dist.version}: {size / 1e6:.1f} MB")
print(f"  total: {total / 1e6:.1f} MB")
PY
gomp="$(ldconfig -p | awk '/libgomp\.so\.1 .*x86-64/ {print $NF}' | head -n 1 || true)"
cat > "$work/check.py" <<'PY'
import ctypes, sys
import numpy as np
try:
    ctypes.CDLL("libgomp.so.1")
    print("libgomp.so.1 is still loadable: the check is not meaningful"); sys.exit(1)
except OSError as err:
    print("system libgomp hidden:", err)
import cnnkit as ck, cnnkit.functional as F
from cnnkit.kernels import backend
print(backend.describe_line())
assert ck.get_backend() == "onednn", ck.get_backend()
rng = np.random.default_rng(0)
x = rng.standard_normal((8, 3, 16, 16), dtype=np.float32)
w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
out = {}
for name in ("onednn", "numpy"):
    with ck.set_backend(name):
        xt, wt = ck.tensor(x, requires_grad=True), ck.tensor(w, requires_grad=True)
        y = F.conv2d(xt, wt, padding=1)
        y.sum().backward()
        out[name] = (y.numpy(), xt.grad.numpy(), wt.grad.numpy())
for a, b in zip(out["onednn"], out["numpy"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
from cnnkit import models, optim
m = models.get_model("resnet20", num_classes=10); opt = optim.SGD(m.parameters(), lr=0.01)
xb = ck.tensor(rng.random((4, 3, 32, 32), dtype=np.float32)); yb = ck.tensor(np.arange(4) % 10)
loss = F.cross_entropy(m(xb), yb); opt.zero_grad(); loss.backward(); opt.step()
maps = {line.split()[-1] for line in open("/proc/self/maps") if "omp" in line.split()[-1]}
print("OpenMP runtime mapped:", sorted(p for p in maps if p.startswith("/")))
print("oneDNN convolution matches the reference; a ResNet-20 training step ran; loss", float(loss.item()))
PY
if [ -n "$gomp" ]; then
    unshare -m bash -c "mount --bind /dev/null '$gomp' && '$work/venv/bin/python' '$work/check.py'"
else
    "$work/venv/bin/python" "$work/check.py"
fi
