"""The ``cnnkit`` command: train | evaluate | predict | summary | bench | experiment.

Bad input (a missing data folder, a corrupt file, a foreign checkpoint, an unreadable image ...) raises
:class:`cnnkit.InputError` (or a file-system error) in the library; the command prints it as one line
``cnnkit: error: ...`` and exits with status 2, overwriting nothing. Any other exception is a bug in cnnkit: the
traceback is printed with a one-line notice, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from .errors import InputError

EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
BUG_NOTICE = ("cnnkit: this is a bug in cnnkit, not a problem with your input; please report it with the traceback "
              "above")


class UsageError(InputError):
    """A user error the CLI reports in one line (exit status 2)."""


# ---------------------------------------------------------------------------------------------------- train
def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="model name (default: small_cnn for digits/shapes, lenet5 for (fashion-)mnist, resnet20 for "
                        "cifar10); see `cnnkit summary --list`")
    p.add_argument("--dataset", default="digits",
                   choices=["digits", "mnist", "fashion-mnist", "cifar10", "shapes", "folder"])
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (or the image folder root)")
    p.add_argument("--download", action="store_true", help="download MNIST/FashionMNIST/CIFAR-10 if missing")
    p.add_argument("--image-size", type=int, default=32, help="resize images of --dataset folder to this size")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", default="adam",
                   choices=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
    p.add_argument("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum for momentum/nesterov/rmsprop")
    p.add_argument("--schedule", default="cosine", choices=["none", "step", "cosine", "onecycle", "exponential",
                                                            "plateau"])
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear learning-rate warm-up")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay")
    p.add_argument("--l1", type=float, default=0.0, help="L1 penalty weight added to the loss")
    p.add_argument("--augment", action="store_true", help="data augmentation (dataset-appropriate preset)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set held out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>-<model>, numbered if taken)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--patience", type=int, default=0, help="early-stopping patience in epochs (0: off)")
    p.add_argument("--json", action="store_true", help="print the final results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, epoch lines only")


DEFAULT_MODEL = {"digits": "small_cnn", "shapes": "small_cnn", "mnist": "lenet5", "fashion-mnist": "lenet5",
                 "cifar10": "resnet20", "folder": "small_cnn"}
DEFAULT_LR = {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 1e-3, "adam": 3e-3,
              "adamw": 3e-3}


def _free_folder(base: Path) -> Path:
    if not base.exists():
        return base
    for i in range(2, 10_000):
        candidate = base.with_name(f"{base.name}-{i}")
        if not candidate.exists():
            return candidate
    raise UsageError(f"no free run folder next to {base}")


def train_command(args) -> int:
    import cnnkit as ck

    from . import viz
    from .training import (
        EarlyStopping,
        HistoryLogger,
        ProgressBar,
        Trainer,
        TrainingInterrupted,
        confusion_matrix,
        diagnose,
        precision_recall_f1,
    )
    from .workflow import build_model, build_optimizer, build_scheduler, load_data, make_loaders

    model_name = args.model or DEFAULT_MODEL[args.dataset]
    if args.epochs < 1 or args.batch_size < 1:
        raise UsageError(f"--epochs and --batch-size must be >= 1, got {args.epochs} and {args.batch_size}")
    out = Path(args.out) if args.out else Path("runs") / f"{args.dataset}-{model_name}"
    if args.resume:
        if not (out / "last.ckpt").is_file():
            raise UsageError(f"--resume: no checkpoint at {out / 'last.ckpt'}")
    else:
        out = _free_folder(out) if args.out is None else out
        if (out / "last.ckpt").exists():
            raise UsageError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    config = {
        "model": model_name, "dataset": args.dataset, "data_dir": args.data_dir, "image_size": args.image_size,
        "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
        "lr": args.lr if args.lr is not None else DEFAULT_LR[args.optimizer], "momentum": args.momentum,
        "schedule": args.schedule, "warmup": args.warmup, "weight_decay": args.weight_decay, "l1": args.l1,
        "augment": args.augment, "val_fraction": args.val_fraction, "seed": args.seed,
    }
    ck.manual_seed(args.seed)
    data = load_data(args.dataset, args.data_dir, download=args.download, image_size=args.image_size)
    config.update(in_channels=data.in_channels, input_size=data.input_size, num_classes=data.num_classes,
                  classes=list(map(str, data.classes)))
    train_loader, val_loader, test_loader = make_loaders(data, config)
    model = build_model(config)
    optimizer = build_optimizer(model, config)
    scheduler, per_batch = build_scheduler(optimizer, config, steps_per_epoch=len(train_loader))
    callbacks = [HistoryLogger(out / "history.json")]
    if not args.json or not args.no_progress:
        callbacks.insert(0, ProgressBar(bar=not args.no_progress))
    if args.patience:
        callbacks.append(EarlyStopping(patience=args.patience, restore_best_weights=False))
    trainer = Trainer(model, optimizer, scheduler=scheduler, scheduler_per_batch=per_batch, callbacks=callbacks,
                      l1=args.l1, checkpoint_dir=out, config=config)
    if args.resume:
        saved = trainer.load_checkpoint(out / "last.ckpt")
        if saved.get("model") != model_name or saved.get("dataset") != args.dataset:
            raise UsageError(f"--resume: {out} holds a {saved.get('model')} run on {saved.get('dataset')}, not "
                             f"{model_name} on {args.dataset}")
        print(f"Resuming {out} after epoch {trainer.epoch}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Training {model_name} on {args.dataset}: {len(train_loader.dataset)} train / "
          f"{len(val_loader.dataset) if val_loader else 0} val / {len(test_loader.dataset)} test images, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters -> {out}", file=sys.stderr)
    try:
        history = trainer.fit(train_loader, val_loader, epochs=args.epochs)
    except TrainingInterrupted as err:
        where = f"; resume with: cnnkit train --out {out} --resume ..." if err.checkpoint else ""
        print(f"cnnkit: interrupted in epoch {err.epoch}; state saved at {err.checkpoint}{where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    outputs, targets = trainer.predict(test_loader)
    cm = confusion_matrix(outputs, targets, data.num_classes)
    per_class = precision_recall_f1(cm)
    test = trainer.evaluate(test_loader)
    fit_report = diagnose(history)
    metrics = {
        "test_loss": test["loss"], "test_accuracy": test.get("accuracy"),
        "epochs": trainer.epoch, "confusion_matrix": cm.tolist(),
        "per_class": {name: [round(float(v), 4) for v in values] for name, values in per_class.items()},
        "classes": config["classes"], "fit": fit_report, "run_folder": str(out),
    }
    from .atomic import write_text

    write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    viz.plot_curves(history, out / "curves.png", title=f"{model_name} on {args.dataset}")
    viz.plot_confusion(cm, out / "confusion.png", classes=config["classes"])
    if args.json:
        print(json.dumps({k: v for k, v in metrics.items() if k != "confusion_matrix"}))
    else:
        print(f"Test accuracy {test.get('accuracy', float('nan')):.2%}  test loss {test['loss']:.4f}")
        print(f"Fit: {fit_report['message']}")
        print(f"Run folder: {out} (last.ckpt, best.ckpt, history.json, metrics.json, curves.png, confusion.png)")
    return 0


# ---------------------------------------------------------------------------------------------------- evaluate
def evaluate_command(args) -> int:
    from .training import Trainer, confusion_matrix, load_checkpoint
    from .workflow import build_model, build_optimizer, load_data, make_loaders

    state = load_checkpoint(args.checkpoint)
    config = dict(state.get("config") or {})
    if "model" not in config:
        raise UsageError(f"{args.checkpoint}: the checkpoint has no training config (not written by cnnkit train)")
    if args.data_dir:
        config["data_dir"] = args.data_dir
    data = load_data(config["dataset"], config.get("data_dir"), image_size=config.get("image_size", 32))
    _, _, test_loader = make_loaders(data, config)
    model = build_model(config)
    model.load_state_dict(state["model"])
    trainer = Trainer(model, build_optimizer(model, config))
    result = trainer.evaluate(test_loader)
    outputs, targets = trainer.predict(test_loader)
    cm = confusion_matrix(outputs, targets, data.num_classes)
    report = {"checkpoint": str(args.checkpoint), "epoch": state.get("epoch"), "test_loss": result["loss"],
              "test_accuracy": result.get("accuracy"), "confusion_matrix": cm.tolist()}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.checkpoint}: epoch {state.get('epoch')}, test accuracy {result.get('accuracy', 0):.2%}, "
              f"test loss {result['loss']:.4f}")
    return 0


# ---------------------------------------------------------------------------------------------------- predict
def predict_command(args) -> int:
    import numpy as np

    import cnnkit as ck

    from .training import load_checkpoint
    from .workflow import build_model, load_image_for

    state = load_checkpoint(args.checkpoint)
    config = dict(state.get("config") or {})
    if "model" not in config:
        raise UsageError(f"{args.checkpoint}: the checkpoint has no training config (not written by cnnkit train)")
    model = build_model(config)
    model.load_state_dict(state["model"])
    model.eval()
    images = np.stack([load_image_for(path, config, resize=args.resize) for path in args.images])
    with ck.no_grad():
        probs = ck.functional.softmax(model(ck.tensor(images)), dim=1).numpy()
    classes = config.get("classes") or [str(i) for i in range(probs.shape[1])]
    k = max(1, min(args.top_k, probs.shape[1]))
    results = []
    for path, p in zip(args.images, probs, strict=True):
        top = np.argsort(-p)[:k]
        results.append({"image": str(path), "top": [{"class": classes[i], "index": int(i),
                                                      "probability": round(float(p[i]), 6)} for i in top]})
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(f"{r['image']}: " + ", ".join(f"{t['class']} ({t['probability']:.1%})" for t in r["top"]))
    return 0


# ---------------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnkit", description="Convolutional neural networks on NumPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model (default: a small CNN on the bundled digits)")
    _add_train_args(p)
    p.set_defaults(func=train_command)
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on its test set")
    p.add_argument("checkpoint")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=evaluate_command)
    p = sub.add_parser("predict", help="classify image files with a checkpoint (top-k)")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--resize", action="store_true",
                   help="convert each image to the model's channels and resize it to its input size (otherwise an "
                        "image that differs is an error)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=predict_command)
    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and receptive fields of a model",
                       add_help=False)
    p.set_defaults(func=None, passthrough="summary")
    p = sub.add_parser("bench", help="benchmark against PyTorch", add_help=False)
    p.set_defaults(func=None, passthrough="bench")
    p = sub.add_parser("experiment", help="the lessons as runnable experiments: optimizers | overfitting")
    p.add_argument("name", choices=["optimizers", "overfitting"])
    p.add_argument("--out", default=None, help="output folder (default runs/experiment-<name>)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=experiment_command)
    return parser


def experiment_command(args) -> int:
    from .experiments import run_experiment

    result = run_experiment(args.name, out=args.out, epochs=args.epochs, seed=args.seed)
    if args.json:
        print(json.dumps(result))
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
    if argv and argv[0] in ("summary", "bench"):
        return _passthrough(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    return run_reporting_errors(args.func, args)


def run_reporting_errors(func, *args) -> int:
    """Run a command: an input or file-system error becomes one line and exit status 2; any other exception is a
    bug in cnnkit (traceback, a one-line notice, exit status 1). ``CNNKIT_DEBUG=1`` re-raises everything."""
    try:
        return func(*args)
    except (InputError, OSError) as err:
        if os.environ.get("CNNKIT_DEBUG"):
            raise
        print(f"cnnkit: error: {one_line(err)}", file=sys.stderr)
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
