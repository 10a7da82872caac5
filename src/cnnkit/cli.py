"""The ``cnnkit`` command: train | evaluate | predict | segment | detect | export | inspect | summary | bench |
experiment.

Bad input (a missing data folder, a corrupt file, a foreign checkpoint, an unreadable image ...) raises
:class:`cnnkit.InputError` (or a file-system error) in the library; the command prints it as one line
``cnnkit: error: ...`` and exits with status 2, overwriting nothing. Any other exception is a bug in cnnkit: the
traceback is printed with a one-line notice, exit status 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
from pathlib import Path

from .atomic import json_text
from .errors import InputError
from .training.config import RunConfig

EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
BUG_NOTICE = ("cnnkit: this is a bug in cnnkit, not a problem with your input; please report it with the traceback "
              "above")


class UsageError(InputError):
    """A user error the CLI reports in one line (exit status 2)."""


# ---------------------------------------------------------------------------------------------------- train
def _add_train_args(p: argparse.ArgumentParser) -> None:
    """Flags named like the run configuration's fields (``--batch-size`` -> ``batch_size``). Their defaults are
    None: an unset flag leaves the field at its default on a new run and at its saved value on a resumed one."""
    from .data.registry import list_datasets
    from .optim.factory import OPTIMIZERS, SCHEDULES
    from .training.tasks import TASKS

    d = RunConfig()
    p.add_argument("--task", default=None, choices=list(TASKS), help=f"what to learn (default {d.task})")
    p.add_argument("--model", default=None,
                   help="model name (default: the task's model for the dataset: small_cnn for digits/shapes, lenet5 "
                        "for (fashion-)mnist, resnet20 for cifar10); see `cnnkit summary --list`")
    p.add_argument("--dataset", default=None, choices=list_datasets(), help=f"(default {d.dataset})")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (or the image folder root)")
    p.add_argument("--download", action="store_true", default=None,
                   help="download MNIST/FashionMNIST/CIFAR-10 if missing")
    p.add_argument("--image-size", type=int, default=None,
                   help="side of the square images the model gets (default: the model's natural input size from "
                        "`cnnkit summary --list`, or the data's own size for models that adapt to it); the data "
                        "is converted and resized to it, a size the model cannot take is refused up front")
    p.add_argument("--subset", type=int, default=None,
                   help="train and test on a seeded choice of this many images of each set, for quick trials "
                        "(default 0: all)")
    p.add_argument("--epochs", type=int, default=None, help=f"(default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"(default {d.batch_size})")
    p.add_argument("--optimizer", default=None, choices=OPTIMIZERS, help=f"(default {d.optimizer})")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    p.add_argument("--momentum", type=float, default=None,
                   help="momentum of momentum/nesterov (default 0.9) and rmsprop (default 0)")
    p.add_argument("--schedule", default=None, choices=SCHEDULES, help=f"(default {d.schedule})")
    p.add_argument("--warmup", type=int, default=None, help="epochs of linear learning-rate warm-up (default 0)")
    p.add_argument("--weight-decay", type=float, default=None, help="L2 weight decay (default 0)")
    p.add_argument("--l1", type=float, default=None, help="L1 penalty weight, applied by the optimizer (default 0)")
    p.add_argument("--augment", action="store_true", default=None,
                   help="data augmentation (dataset-appropriate preset)")
    p.add_argument("--noise", type=float, default=None,
                   help="reconstruction: standard deviation of Gaussian noise added to the input only, so the model "
                        "learns to rebuild the clean image (a denoising autoencoder; default 0)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help=f"share of the training set held out (default {d.val_fraction})")
    p.add_argument("--seed", type=int, default=None, help=f"(default {d.seed})")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (default 0: off)")
    p.add_argument("--sync-bn", action="store_true", default=None,
                   help="under mpiexec: batch-norm statistics over the global batch (default: per process)")
    p.add_argument("--backbone", default=None, metavar="MODEL",
                   help="detection: the zoo classifier whose feature stages are the detector's backbone")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start the backbone from the matching weights of this checkpoint (e.g. a classifier's)")
    p.add_argument("--freeze-backbone", action="store_true", default=None,
                   help="keep the backbone's weights and batch-norm statistics fixed")
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<model>, numbered if taken)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out (default: the most recent run) from its last checkpoint, with its "
                        "saved settings")
    p.add_argument("--json", action="store_true", help="print the final results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, epoch lines only")
    p.add_argument("--snapshots", type=int, default=None,
                   help="a snapshot ensemble: restart the cosine learning rate this many times and save "
                        "snapshot-<k>.ckpt at the end of each cycle (default 0: off)")
    p.add_argument("--diagnostics", action="store_true",
                   help="log per-layer activation statistics and gradient/weight norms per epoch to the history and "
                        "draw activations.png and gradients.png")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also write the epoch numbers (and diagnostics) as TensorBoard scalars into DIR "
                        "(needs tensorboardX)")


_NOT_CONFIG = ("out", "resume", "json", "no_progress", "command", "func", "passthrough", "diagnostics",
               "tensorboard")


def _config_changes(args) -> dict:
    """The run-configuration fields the command line set explicitly (``--backbone`` goes to the model builder)."""
    changes = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG and v is not None}
    if "backbone" in changes:
        changes["model_kwargs"] = {"backbone": changes.pop("backbone")}
    return changes


def _latest_run() -> Path:
    """The most recently written run folder under runs/."""
    from .runs import DEFAULT_RUNS

    runs = [p.parent for p in DEFAULT_RUNS.glob("*/last.ckpt")]
    if not runs:
        raise UsageError(f"no run to resume under {DEFAULT_RUNS}/; name its folder", field="out")
    return max(runs, key=lambda folder: (folder / "last.ckpt").stat().st_mtime)


def train_command(args) -> int:
    from .runs import Run
    from .training import ProgressBar, TrainingInterrupted

    callbacks = [] if args.json and args.no_progress else [ProgressBar(bar=not args.no_progress)]
    callbacks += _diagnostic_callbacks(args)
    changes = _config_changes(args)
    if args.resume:
        run = Run.resume(args.out or _latest_run(), changes, callbacks=callbacks)
        if run.is_writer:
            print(f"Resuming {run.folder} after epoch {run.epoch}", file=sys.stderr)
    else:
        run = Run.start(RunConfig(**changes), args.out, callbacks=callbacks)
    if run.is_writer:
        print(run.describe(), file=sys.stderr)
    try:
        result = run.train()
    except TrainingInterrupted as err:
        where = f"; resume with: cnnkit train --out {shlex.quote(str(run.folder))} --resume" if err.checkpoint else ""
        print(f"cnnkit: interrupted in epoch {err.epoch}; state saved at {err.checkpoint}{where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if run.parallel.world_size == 1:
            raise
        _stop_every_process(run.parallel, err)
    if not run.is_writer:
        return 0
    report = result.report
    if args.json:
        print(json_text({k: v for k, v in report.items() if k != "confusion_matrix"}))
    else:
        print(_format_scores(report).capitalize())
        print(f"Fit: {report['fit']['message']}")
        print(f"Run folder: {result.folder} ({', '.join(result.files)})")
    return 0


def _stop_every_process(parallel, err: Exception) -> None:
    """A process of a data-parallel run failed while the others may be waiting for it: say which and why in one line
    (a traceback for a bug), then end every process of the run."""
    from .distributed import PeerLostError

    rank = f"rank {parallel.rank} of {parallel.world_size}"
    if isinstance(err, (InputError, OSError, PeerLostError)):
        message = one_line(err)
        print(f"cnnkit: error: {message if message.startswith('rank ') else f'{rank}: {message}'}", file=sys.stderr)
        code = EXIT_BAD_INPUT if not isinstance(err, PeerLostError) else EXIT_BUG
    else:
        traceback.print_exc()
        print(f"{BUG_NOTICE} ({rank})", file=sys.stderr)
        code = EXIT_BUG
    parallel.group.abort(code)


def _diagnostic_callbacks(args) -> list:
    """--diagnostics and --tensorboard as callbacks (TensorBoard last, so it also writes the diagnostics)."""
    from .training import ActivationStats, GradientStats, TensorBoard

    callbacks = [ActivationStats(), GradientStats()] if args.diagnostics else []
    if args.tensorboard:
        callbacks.append(TensorBoard(args.tensorboard))
    return callbacks


def _format_scores(report: dict) -> str:
    """'test accuracy 99.17%  test loss 0.0312': the scalar scores of a test report."""
    parts = []
    for key, value in report.items():
        if isinstance(value, float) and key != "test_loss":
            name = key.removeprefix("test_").replace("_", " ")
            shown = f"{value:.2%}" if key.endswith(("accuracy", "iou")) else f"{value:.4g}"
            parts.append(f"test {name} {shown}")
    loss = report.get("test_loss")
    return "  ".join(parts + ([f"test loss {loss:.4f}"] if loss is not None else []))


# ---------------------------------------------------------------------------------------------------- evaluate
def evaluate_command(args) -> int:
    from .runs import evaluate_ensemble, evaluate_run

    if len(args.checkpoint) > 1:
        return _print_ensemble(evaluate_ensemble(args.checkpoint, data_dir=args.data_dir), args.json)
    args.checkpoint = args.checkpoint[0]
    report = evaluate_run(args.checkpoint, data_dir=args.data_dir, dataset=args.dataset, runtime=args.runtime)
    print(f"runtime: {report['runtime']}", file=sys.stderr)
    if args.json:
        print(json_text(report))
    else:
        print(f"{args.checkpoint}: epoch {report['epoch']}, {_format_scores(report)}")
    return 0


def _print_ensemble(report: dict, as_json: bool) -> int:
    if as_json:
        print(json_text(report))
        return 0
    for i, m in enumerate(report["members"]):
        best = "  (best member)" if i == report["best_member"] else ""
        print(f"{m['checkpoint']}: epoch {m['epoch']}, test accuracy {m['test_accuracy']:.2%}  test loss "
              f"{m['test_loss']:.4f}{best}")
    mean, vote = report["mean"], report["vote"]
    print(f"Ensemble of {len(report['members'])}, averaged probabilities: test accuracy {mean['test_accuracy']:.2%}  "
          f"test loss {mean['test_loss']:.4f}")
    print(f"Ensemble of {len(report['members'])}, majority vote: test accuracy {vote['test_accuracy']:.2%}")
    return 0


# ---------------------------------------------------------------------------------------------------- inspect
def inspect_command(args) -> int:
    from .inspect import inspect_checkpoint

    result = inspect_checkpoint(args.checkpoint, args.image, layer=args.layer, target=args.target, out=args.out,
                                resize=args.resize)
    if args.json:
        print(json_text(result))
        return 0
    if "predicted" in result:
        p, t = result["predicted"], result["target"]
        print(f"{result['image']}: predicted {p['class']} ({p['probability']:.1%}); explaining class {t['class']} "
              f"(logit {t['logit']:.3f})")
    rf = result["receptive_field"]
    note = "" if not rf["reaches_the_border"] else " (cut by the image border)"
    print(f"Layer {result['layer']}: feature maps {tuple(result['feature_maps']['shape'])}; receptive field of unit "
          f"{tuple(rf['unit'])}: empirical {tuple(rf['empirical'])}{note}, computed {tuple(rf['computed'] or ())}")
    print(f"Pictures in {result['out']}: {', '.join(result['files'])}")
    return 0


# ---------------------------------------------------------------------------------------------------- predict
def predict_command(args) -> int:
    from .runs import load_run, predict_images

    loaded = load_run(args.checkpoint, runtime=args.runtime)
    results = predict_images(loaded, args.images, resize=args.resize, top_k=args.top_k, invert=args.invert)
    print(f"runtime: {loaded.runtime}", file=sys.stderr)
    if args.json:
        print(json_text(results))
    else:
        for r in results:
            print(f"{r['image']}: " + ", ".join(f"{t['class']} ({t['probability']:.1%})" for t in r["top"]))
    return 0


# ---------------------------------------------------------------------------------------------------- segment
def segment_command(args) -> int:
    from .runs import load_run, segment_images

    loaded = load_run(args.checkpoint)
    out = args.out or Path(args.checkpoint).parent / "segment"
    results = segment_images(loaded, args.images, out)
    if args.json:
        print(json_text(results))
        return 0
    for r in results:
        shown = sorted(r["areas"].items(), key=lambda item: -item[1]["pixels"])
        areas = ", ".join(f"{c} {a['fraction']:.1%}" for c, a in shown if a["pixels"])
        print(f"{r['image']} ({r['width']}x{r['height']}): {areas}; wrote {r['mask']} and {r['overlay']}")
    return 0


# ---------------------------------------------------------------------------------------------------- detect
def detect_command(args) -> int:
    from .runs import detect_images, load_run

    loaded = load_run(args.checkpoint)
    out = Path(args.out) if args.out else loaded.path.parent / "detections"
    results = detect_images(loaded, args.images, score_threshold=args.score_threshold, out=out)
    if args.json:
        print(json_text(results))
        return 0
    for r in results:
        found = ", ".join(f"{c} {s:.2f} [{', '.join(f'{v:.1f}' for v in b)}]"
                          for c, s, b in zip(r["classes"], r["scores"], r["boxes"], strict=True))
        n = len(r["boxes"])
        print(f"{r['image']}: {n} object{'' if n == 1 else 's'}{': ' + found if n else ''}")
    print(f"Pictures in {out}")
    return 0


# ---------------------------------------------------------------------------------------------------- export
def export_command(args) -> int:
    from .interchange import export_model

    result = export_model(args.source, args.format, args.out, weights=args.weights, num_classes=args.num_classes,
                          opset=args.opset, dynamic_batch=not args.static_batch, seed=args.seed,
                          verify=not args.no_check)
    if args.json:
        print(json_text(result))
        return 0
    size = f"{result['bytes'] / 2**20:.1f} MiB"
    if result["format"] == "onnx":
        batch = "dynamic batch" if result["dynamic_batch"] else "static batch"
        print(f"Exported {result['source']} to {result['out']}: ONNX opset {result['opset']}, {result['nodes']} nodes, "
              f"{result['initializers']} initializers, {result['parameters']:,} parameters, {batch}, {size}")
        check = result.get("check")
        if isinstance(check, dict):
            verdict = "matches" if check["ok"] else "DIFFERS FROM"
            print(f"Check: {check['runtime']} {verdict} cnnkit on batches {check['batches']} "
                  f"(max error {check['max_error']:.2e} relative to max(1, |output|))")
        elif check:
            print(f"Check: {check}")
    else:
        print(f"Exported {result['source']} to {result['out']}: safetensors, {result['tensors']} tensors, "
              f"{result['parameters']:,} parameters, {size}")
    return 0


# ---------------------------------------------------------------------------------------------------- main
def _version() -> str:
    import cnnkit as ck

    return f"cnnkit {ck.__version__} (kernels: {ck.get_backend()})"


def _add_runtime_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", default="auto", choices=["auto", "onnxruntime", "cnnkit"],
                   help="what runs an .onnx model: onnxruntime, cnnkit's importer, or auto (onnxruntime when "
                        "installed; the default); checkpoints always run in cnnkit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnkit", description="Convolutional neural networks on NumPy.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model (default: a small CNN on the bundled digits)")
    _add_train_args(p)
    p.set_defaults(func=train_command)
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on its test set (several: each and their ensemble)")
    p.add_argument("checkpoint", nargs="+",
                   help="checkpoints, or an .onnx model (run by onnxruntime when installed)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the dataset files (default: the one saved in the checkpoint)")
    p.add_argument("--dataset", default=None,
                   help="dataset to evaluate on (needed for an .onnx model exported elsewhere)")
    _add_runtime_arg(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON (errors too)")
    p.set_defaults(func=evaluate_command)
    p = sub.add_parser("predict", help="classify image files with a checkpoint (top-k)")
    p.add_argument("checkpoint", help="a checkpoint, or an .onnx model (run by onnxruntime when installed)")
    p.add_argument("images", nargs="+",
                   help="image files, folders (their image files) or quoted glob patterns such as 'pics/*.png'")
    p.add_argument("--top-k", type=int, default=3, help="how many classes to list per image (default 3)")
    p.add_argument("--resize", action="store_true",
                   help="convert each image to the model's channels and resize it to its input size (done anyway "
                        "when the training images were converted; otherwise an image that differs is an error)")
    p.add_argument("--invert", action="store_true",
                   help="invert the images (1 - value): dark digits on a light background become the light-on-dark "
                        "digits the digit datasets hold")
    _add_runtime_arg(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON (errors too)")
    p.set_defaults(func=predict_command)
    p = sub.add_parser("segment", help="segment image files with a segmentation checkpoint: an index mask PNG and a "
                                       "colour overlay per image")
    p.add_argument("checkpoint", help="a segmentation checkpoint written by cnnkit train")
    p.add_argument("images", nargs="+",
                   help="image files (any size), folders (their image files) or quoted glob patterns")
    p.add_argument("--out", default=None,
                   help="folder for <name>_mask.png and <name>_overlay.png (default: <checkpoint folder>/segment)")
    p.add_argument("--json", action="store_true", help="print the results (files, class areas) as JSON (errors too)")
    p.set_defaults(func=segment_command)
    p = sub.add_parser("detect", help="find objects in image files with a detection checkpoint and draw them")
    p.add_argument("checkpoint", help="a detection checkpoint written by cnnkit train")
    p.add_argument("images", nargs="+",
                   help="image files, folders (their image files) or quoted glob patterns such as 'pics/*.png'")
    p.add_argument("--out", default=None,
                   help="folder for the pictures with labelled boxes (default <checkpoint folder>/detections)")
    p.add_argument("--score-threshold", type=float, default=0.5,
                   help="keep detections scoring at least this (default 0.5)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (errors too)")
    p.set_defaults(func=detect_command)
    p = sub.add_parser("export", help="write a checkpoint's or a zoo model's weights as ONNX or safetensors")
    p.add_argument("source", help="a checkpoint file, or a zoo model name (random weights unless --weights)")
    p.add_argument("--format", default="onnx", choices=["onnx", "safetensors"], help="(default onnx)")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--weights", default=None, help="zoo model: load these weights (.pth, .safetensors, .npz)")
    p.add_argument("--num-classes", type=int, default=None, help="zoo model: number of classes")
    p.add_argument("--seed", type=int, default=0, help="zoo model: seed of the random weights (default 0)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--static-batch", action="store_true", help="ONNX: fix the batch size to 1")
    p.add_argument("--no-check", action="store_true", help="ONNX: do not compare onnxruntime's output with cnnkit's")
    p.add_argument("--json", action="store_true", help="print the results as JSON (errors too)")
    p.set_defaults(func=export_command)

    p = sub.add_parser("inspect", help="pictures of a model on one image: filters, feature maps, Grad-CAM, "
                                       "saliency, receptive field")
    p.add_argument("checkpoint", help="a checkpoint written by cnnkit train")
    p.add_argument("image", help="the image file to look at")
    p.add_argument("--layer", default=None, help="layer to look at (default: the last convolution)")
    p.add_argument("--class", dest="target", type=int, default=None,
                   help="class index to explain (default: the predicted class)")
    p.add_argument("--out", default=None, help="output folder (default <checkpoint folder>/inspect-<image name>)")
    p.add_argument("--resize", action="store_true",
                   help="convert the image to the model's channels and input size (otherwise a mismatch is an error)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (errors too)")
    p.set_defaults(func=inspect_command)
    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and receptive fields of a model",
                       add_help=False)
    p.set_defaults(func=None, passthrough="summary")
    p = sub.add_parser("bench", help="benchmark against PyTorch", add_help=False)
    p.set_defaults(func=None, passthrough="bench")
    from .experiments import EXPERIMENTS

    p = sub.add_parser("experiment", help=f"the lessons as runnable experiments: {' | '.join(EXPERIMENTS)}")
    p.add_argument("name", choices=list(EXPERIMENTS), help="the experiment to run")
    p.add_argument("--out", default=None, help="output folder (default runs/experiment-<name>, numbered if taken)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the experiment's own)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=experiment_command)
    return parser


def experiment_command(args) -> int:
    from .experiments import run_experiment

    result = run_experiment(args.name, out=args.out, epochs=args.epochs, seed=args.seed)
    if args.json:
        print(json_text(result))
    else:
        print(result["message"])
    return 0


def _passthrough(name: str, argv: list[str]) -> int:
    if name == "summary":
        from .analysis.cli import summary_main

        return summary_main(argv)
    from .bench import bench_main

    return bench_main(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("summary", "bench"):
            return _passthrough(argv[0], argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        return run_reporting_errors(args.func, args, flags=_flags(parser), as_json=getattr(args, "json", False))
    except BrokenPipeError:  # the reader went away (`cnnkit summary --list | head -3`): nothing more to say
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests, embedding)
        pass


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{destination: flag} over the parser and its sub-parsers, e.g. {"data_dir": "--data-dir"}."""
    flags = {}
    for action in parser._actions:
        if action.option_strings:
            flags.setdefault(action.dest, action.option_strings[-1])
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict):
                flags.update({k: v for k, v in _flags(action.choices[sub]).items() if k not in flags})
    return flags


def run_reporting_errors(func, *args, flags: dict | None = None, as_json: bool = False) -> int:
    """Run a command: an input or file-system error becomes one line and exit status 2 (naming the flag that sets
    the field the error points at, when there is one; with ``as_json`` also ``{"error": ..., "flag": ...}`` on
    stdout); any other exception is a bug in cnnkit (traceback, a one-line notice, exit status 1).
    ``CNNKIT_DEBUG=1`` re-raises everything."""
    try:
        return func(*args)
    except BrokenPipeError:
        raise
    except (InputError, OSError) as err:
        if os.environ.get("CNNKIT_DEBUG"):
            raise
        field = getattr(err, "field", None)
        flag = flags.get(field) if flags and field else None
        hint = f" ({flag})" if flag else ""
        if not getattr(err, "quiet", False):  # quiet: another process of the run reported it
            print(f"cnnkit: error: {one_line(err)}{hint}", file=sys.stderr)
            if as_json:
                print(json_text({"error": one_line(err), "flag": flag}))
        return EXIT_BAD_INPUT
    except Exception:
        if os.environ.get("CNNKIT_DEBUG"):
            raise
        traceback.print_exc()
        print(BUG_NOTICE, file=sys.stderr)
        return EXIT_BUG


def one_line(err: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    return " ".join(line.strip() for line in str(err).strip().splitlines()) or type(err).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
