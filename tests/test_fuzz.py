"""Fuzzing the loaders: 1,200 mutated checkpoints, IDX files, PNGs, safetensors, .npz and .pth files (tests/
fuzz_loaders.py, in its own process so its peak memory is its own). Every file either loads or is refused with an
InputError — no other exception, no hang, peak RSS under 500 MB, and loading never changes or creates a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PER_KIND = 200


def test_mutated_files_are_loaded_or_refused_cleanly(tmp_path):
    script = Path(__file__).with_name("fuzz_loaders.py")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), str(PER_KIND), "15"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    total = sum(result["counts"].values())
    assert total >= 1000 and set(result["counts"]) >= {"ckpt", "idx", "png", "safetensors", "npz"}
    assert result["others"] == []  # only InputError (or a missing file): never a traceback-worthy exception
    assert result["refused"] > total // 2 and result["loaded"] + result["refused"] == total
    assert result["peak_rss"] < 500 * 2 ** 20, f"peak RSS {result['peak_rss'] / 2 ** 20:.0f} MB"
    assert result["slowest"][0] < 10, result["slowest"]
    assert list(tmp_path.iterdir()) == []  # every mutated file was removed again; nothing else was written
