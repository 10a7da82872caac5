"""What users expect around the core: --version, help for every flag, loading a checkpoint in Python, predict on
folders and globs, --invert, the CSV log, the learning-rate panel, worker processes in the DataLoader, bench
without PyTorch."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
from PIL import Image

import cnnkit as ck
from cnnkit.cli import build_parser, main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("comforts") / "run"
    assert main(["train", "--epochs", "2", "--schedule", "cosine", "--out", str(out), "--no-progress", "--json",
                 "--seed", "2"]) == 0
    return out


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    from cnnkit.data import Digits

    folder = tmp_path_factory.mktemp("digits")
    images, labels = Digits(train=False).arrays()
    for i in range(3):
        Image.fromarray((images[i, 0] * 255).astype(np.uint8)).save(folder / f"d{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder, images[:3], labels[:3]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"cnnkit {ck.__version__}")


def _actions(parser, name="cnnkit"):
    from cnnkit.analysis.cli import build_parser as summary_parser

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _actions(sub, sub_name)
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield name, action
    if name == "cnnkit":
        yield from _actions(summary_parser(), "summary")


def test_every_flag_and_positional_has_help_and_its_default():
    for command, action in _actions(build_parser()):
        what = f"{command} {action.option_strings or action.dest}"
        assert action.help, f"{what} has no help text"
        if action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in action.help, f"{what}: the help does not give the default {action.default!r}"


def test_load_a_checkpoint_in_python(run_dir, digit_files):
    model = ck.load(run_dir / "best.ckpt")
    assert not model.training
    fresh = ck.models.build_model("small_cnn", num_classes=10, in_channels=1, input_size=8)
    ck.io.load_state_dict(fresh, run_dir / "best.ckpt")
    assert ck.load(run_dir / "best.ckpt", fresh) is fresh
    _, images, _ = digit_files
    with ck.no_grad():
        a, b = model(ck.tensor(images)).numpy(), fresh.eval()(ck.tensor(images)).numpy()
    assert np.array_equal(a, b)
    with pytest.raises(ck.InputError, match="pass the model"):
        ck.load(run_dir / "weights.npz")


def test_predict_on_a_folder_and_a_glob(run_dir, digit_files, capsys):
    folder, _, _ = digit_files
    ckpt = str(run_dir / "best.ckpt")
    assert main(["predict", ckpt, str(folder), "--json"]) == 0
    by_folder = json.loads(capsys.readouterr().out)
    assert [r["image"].rsplit("/", 1)[1] for r in by_folder] == ["d0.png", "d1.png", "d2.png"]
    assert main(["predict", ckpt, str(folder / "d*.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == by_folder
    assert main(["predict", ckpt, str(folder / "x*.png")]) == 2
    assert "no image file matches" in capsys.readouterr().err
    assert main(["predict", ckpt, str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(str(folder / "d0.png"))


def test_invert_turns_dark_on_light_into_the_training_look(run_dir, digit_files, tmp_path, capsys):
    folder, _, _ = digit_files
    light = tmp_path / "light.png"
    Image.fromarray(255 - np.asarray(Image.open(folder / "d0.png"))).save(light)
    ckpt = str(run_dir / "best.ckpt")
    assert main(["predict", ckpt, str(folder / "d0.png"), str(light), "--invert", "--json"]) == 0
    plain_inverted, light_inverted = json.loads(capsys.readouterr().out)
    assert main(["predict", ckpt, str(folder / "d0.png"), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)[0]
    assert [t["class"] for t in light_inverted["top"]] == [t["class"] for t in plain["top"]]
    assert [t["probability"] for t in light_inverted["top"]] == pytest.approx([t["probability"] for t in plain["top"]],
                                                                            abs=1e-4)
    assert [t["probability"] for t in plain_inverted["top"]] != [t["probability"] for t in plain["top"]]


def test_csv_log_beside_history_json(run_dir):
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    history = json.loads((run_dir / "history.json").read_text())["epochs"]
    assert [int(r["epoch"]) for r in rows] == [e["epoch"] for e in history] == [1, 2]
    assert float(rows[-1]["lr"]) == pytest.approx(history[-1]["lr"])


def test_curves_have_a_learning_rate_panel(run_dir, monkeypatch, tmp_path):
    from cnnkit import viz
    from cnnkit.training.history import History
    from cnnkit.viz import plots

    figures = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figures.append(fig), real(fig, path))[1])
    history = History.from_dict(json.loads((run_dir / "history.json").read_text()))
    viz.plot_curves(history, tmp_path / "curves.png")
    titles = [ax.get_title() for ax in figures[0].axes]
    assert titles == ["Loss", "Accuracy", "Learning rate"]
    lr_line = figures[0].axes[-1].lines[0]
    assert list(lr_line.get_ydata()) == pytest.approx(history["lr"])


def test_dataloader_worker_processes_keep_the_seeded_order():
    from cnnkit.data import DataLoader, Digits, TransformDataset
    from cnnkit.data.transforms import digits_augmentation

    data = TransformDataset(Digits(train=True), digits_augmentation())  # random transforms, item by item

    def epochs(**kwargs):
        loader = DataLoader(data, batch_size=64, shuffle=True, seed=5, **kwargs)
        return [[(x.numpy().copy(), y.numpy().copy()) for x, y in loader] for _ in range(2)]

    plain, workers = epochs(), epochs(num_workers=2)
    assert len(plain[0]) == len(workers[0]) == 23
    for a, b in zip(plain, workers, strict=True):
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert not np.array_equal(plain[0][0][1], plain[1][0][1])  # a new order each epoch
    with pytest.raises(ck.InputError, match="num_workers"):
        DataLoader(data, num_workers=-1)


def test_dataloader_worker_errors_reach_the_caller():
    from cnnkit.data import DataLoader, Dataset

    class Broken(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            if i == 5:
                raise ck.InputError("item 5 is broken")
            return np.zeros(2, np.float32), 0

    with pytest.raises(ck.InputError, match="item 5 is broken"):
        list(DataLoader(Broken(), batch_size=2, num_workers=2))


def test_bench_table_without_torch_says_how_to_install_it_and_stays_aligned():
    from cnnkit.bench import TORCH_HINT, format_table

    result = {"machine": {"cpu": "cpu", "cpu_count": 2, "threads": 2, "numpy": "2", "blas": "b", "torch": None},
              "repeat": 1, "quick": True, "gemm": {"n": 64, "numpy_gflops": 1.0},
              "conv": [{"workload": "conv 3x3", "backend": "numpy", "fwd_gflops": 1.0, "fwdbwd_gflops": 2.0,
                        "fwdbwd_fraction_of_gemm": 0.5}],
              "elementwise": [{"workload": "relu", "backend": "numpy", "gbps": 1.0}],
              "models": [{"workload": "lenet5", "backend": "numpy", "train_img_s": 10.0, "infer_img_s": 20.0}]}
    lines = format_table(result).splitlines()
    assert TORCH_HINT in lines and "pip install torch" in TORCH_HINT
    for header in ("convolution", "fwd+bwd bandwidth", "model "):
        i = next(i for i, line in enumerate(lines) if line.startswith(header))
        assert len(lines[i]) == len(lines[i + 1]), (lines[i], lines[i + 1])
