"""Whole-system sanity: a small CNN overfits a fixed batch with every optimizer; training does not leak memory."""

import subprocess
import sys

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import optim


def three_conv_net():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 3 * 3, 10),
    )


OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.1),
    "Momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda p: optim.Adagrad(p, lr=0.05),
    "RMSprop": lambda p: optim.RMSprop(p, lr=2e-3),
    "Adam": lambda p: optim.Adam(p, lr=3e-3),
    "AdamW": lambda p: optim.AdamW(p, lr=3e-3),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_overfits_a_fixed_batch(name):
    ck.manual_seed(0)
    rng = np.random.default_rng(0)
    x = ck.tensor(rng.random((64, 1, 12, 12), dtype=np.float32))
    y = ck.tensor(rng.integers(0, 10, 64))
    model = three_conv_net()
    opt = OPTIMIZERS[name](model.parameters())
    for _ in range(150):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with ck.no_grad():
        final = F.cross_entropy(model(x), y).item()
    assert final < 0.05, f"{name}: loss {final:.4f} after 150 steps"


_LEAK_SCRIPT = """
import resource, numpy as np, cnnkit as ck, cnnkit.nn as nn, cnnkit.nn.functional as F
from cnnkit import optim
ck.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16*6*6, 10))
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
x = ck.tensor(rng.random((16, 1, 12, 12), dtype=np.float32)); y = ck.tensor(rng.integers(0, 10, 16))
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for i in range(1000):
    loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    if i == 99:
        warm = rss()
print(warm, rss())
"""


def test_1000_training_steps_do_not_grow_memory():
    out = subprocess.run([sys.executable, "-c", _LEAK_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    warm, end = map(int, out.stdout.split())
    assert end <= warm * 1.05, f"peak RSS grew from {warm} kB after 100 steps to {end} kB after 1000"
