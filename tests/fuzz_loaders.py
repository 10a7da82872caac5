"""Feed mutated files to cnnkit's loaders (run as a script by tests/test_fuzz.py, in its own process so that its
peak memory can be measured): checkpoints, IDX files, PNGs, safetensors, .npz and .pth state dicts.

Usage: python fuzz_loaders.py FOLDER CASES_PER_KIND SEED. Prints one JSON line: the number of files loaded per
kind, how many loaded and how many were refused with an InputError, any other exception (type, message, file), the
slowest load in seconds, files changed or created by loading, and the peak RSS in bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np


def mutate(raw: bytes, rng: np.random.Generator) -> bytes:
    """One to four random edits: flipped bytes, a run of 0x00/0xFF, a truncation, an insertion, a duplicated slice,
    or a 32-bit field set to an extreme value."""
    data = bytearray(raw)
    for _ in range(int(rng.integers(1, 5))):
        kind = int(rng.integers(0, 7))
        at = int(rng.integers(0, max(1, len(data))))
        if kind == 0 and data:
            for _ in range(int(rng.integers(1, 9))):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            data[at:at + int(rng.integers(1, 16))] = bytes([0xFF if rng.random() < 0.5 else 0]) * int(rng.integers(1, 16))
        elif kind == 2:
            data = data[:at]
        elif kind == 3:
            data[at:at] = rng.bytes(int(rng.integers(1, 64)))
        elif kind == 4 and data:
            end = min(len(data), at + int(rng.integers(1, 256)))
            data[at:at] = data[at:end]
        elif kind == 5 and len(data) >= 4:
            at = min(at, len(data) - 4)
            value = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x00010000, 0][int(rng.integers(0, 5))]
            data[at:at + 4] = value.to_bytes(4, "big" if rng.random() < 0.5 else "little")
        else:
            data = data[:at] + rng.bytes(int(rng.integers(0, 32)))
    return bytes(data)


def mutate_json_member(raw: bytes, rng: np.random.Generator) -> bytes:
    """A checkpoint whose index (the JSON in __meta__) is edited while the zip stays valid (CRCs recomputed)."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    meta = np.lib.format.read_array(io.BytesIO(src.read("__meta__.npy")))
    text = meta.tobytes().decode()
    edits = [("small_cnn", "vgg16"), ('"epoch": ', '"epoch": -'), ('"in_channels": 1', '"in_channels": 100000'),
             ('"num_classes": 10', '"num_classes": 1e308'), ('"__array__": "p/model/', '"__array__": "p/'),
             ('"payload": {', '"payload": [{'), ("true", "[[[[[[[[[[[[]]]]]]]]]]]]"), ('"lr": ', '"lr": "x'),
             ('"input_size": 8', '"input_size": 4294967295'), ('"optimizer": {', '"optimizer": {"state": 3, ')]
    old, new = edits[int(rng.integers(0, len(edits)))]
    text = text.replace(old, new, 1) if rng.random() < 0.8 else mutate(text.encode(), rng).decode("latin1")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name == "__meta__.npy":
                member = io.BytesIO()
                np.lib.format.write_array(member, np.frombuffer(text.encode("utf-8", "replace"), np.uint8))
                dst.writestr(name, member.getvalue())
            else:
                dst.writestr(name, src.read(name))
    return out.getvalue()


def seeds(folder: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Small valid files of each kind (the starting points of the mutations)."""
    from PIL import Image

    import cnnkit as ck
    from cnnkit.data import write_idx
    from cnnkit.training import Trainer

    model = ck.models.build_model("small_cnn", num_classes=10, in_channels=1, input_size=8)
    from cnnkit.data.registry import DataInfo
    from cnnkit.runs import run_state
    from cnnkit.training.config import RunConfig

    config = RunConfig(model="small_cnn", optimizer="momentum", lr=0.1).resolved()
    optimizer = ck.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, optimizer, info=DataInfo(1, 8, 10, tuple("0123456789")),
                      run=run_state(config, DataInfo(1, 8, 10, tuple("0123456789"))))
    trainer.save_checkpoint(folder / "seed.ckpt")
    write_idx(folder / "seed-idx", np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8))
    write_idx(folder / "seed-idx.gz", np.arange(3 * 5, dtype=np.int16).reshape(3, 5))
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(folder / "seed-l.png")
    Image.fromarray(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)).save(folder / "seed-rgb.png")
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(folder / "seed-16.png")
    state = {k: np.asarray(v) for k, v in model.state_dict().items()}
    ck.io.save_state_dict(state, folder / "seed.safetensors", metadata={"a": "b"})
    ck.io.save_state_dict(state, folder / "seed.npz")
    kinds = {
        "ckpt": [("ckpt", (folder / "seed.ckpt").read_bytes())],
        "idx": [("", (folder / "seed-idx").read_bytes()), (".gz", (folder / "seed-idx.gz").read_bytes())],
        "png": [(".png", (folder / f"seed-{n}.png").read_bytes()) for n in ("l", "rgb", "16")],
        "safetensors": [(".safetensors", (folder / "seed.safetensors").read_bytes())],
        "npz": [(".npz", (folder / "seed.npz").read_bytes())],
    }
    try:
        import torch

        torch.save({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, folder / "seed.pth")
        kinds["pth"] = [(".pth", (folder / "seed.pth").read_bytes())]
    except ImportError:
        pass
    for p in folder.glob("seed*"):
        p.unlink()
    return kinds


def loader(kind: str):
    import cnnkit as ck
    from cnnkit.data import read_idx
    from cnnkit.data.images import read_image
    from cnnkit.runs import load_run
    from cnnkit.training import load_checkpoint

    if kind == "ckpt":
        def load_ckpt(path):
            load_checkpoint(path)
            return load_run(path)
        return load_ckpt
    if kind == "idx":
        return read_idx
    if kind == "png":
        return lambda path: read_image(path, 3, 8, resize=True)
    return ck.io.read_state_dict


def main() -> None:
    from cnnkit import InputError

    folder, per_kind, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    kinds = seeds(folder)
    counts, refused, loaded, others, slowest = {}, 0, 0, [], (0.0, "")
    for kind, starts in kinds.items():
        load = loader(kind)
        for i in range(per_kind):
            suffix, raw = starts[i % len(starts)]
            name = f"{kind}-{i}{suffix if suffix != 'ckpt' else '.ckpt'}"
            if kind == "ckpt" and i % 3 == 0:
                data = mutate_json_member(raw, rng)
            else:
                data = mutate(raw, rng)
            if suffix == ".gz" and i % 2:  # also mutate the inflated content of a gzip file
                import gzip

                data = gzip.compress(mutate(gzip.decompress(raw), rng), mtime=0)
            path = folder / name
            path.write_bytes(data)
            before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
            start = time.perf_counter()
            try:
                load(path)
                loaded += 1
            except (InputError, FileNotFoundError):
                refused += 1
            except Exception as err:  # noqa: BLE001 - what the test looks for
                others.append([kind, type(err).__name__, str(err)[:200], name])
            took = time.perf_counter() - start
            if took > slowest[0]:
                slowest = (took, name)
            after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
            if after != before:
                others.append([kind, "changed files", sorted(set(after.items()) ^ set(before.items()))[:3], name])
            path.unlink()
            counts[kind] = counts.get(kind, 0) + 1
    with open("/proc/self/status") as f:  # this process's own peak (ru_maxrss includes the parent's, from fork)
        peak = int(next(line.split()[1] for line in f if line.startswith("VmHWM:"))) * 1024
    print(json.dumps({"counts": counts, "loaded": loaded, "refused": refused, "others": others,
                      "slowest": slowest, "peak_rss": peak, "pid": os.getpid()}))


if __name__ == "__main__":
    main()
