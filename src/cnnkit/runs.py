"""Training runs end to end: from a :class:`~cnnkit.training.config.RunConfig` to a run folder, and back.

    result = train_run(RunConfig(dataset="digits", epochs=10), out="runs/a")
    result.report["test_accuracy"], result.folder, result.history
    loaded = load_run("runs/a/best.ckpt")          # model (weights loaded, eval mode), task, config, data info
    evaluate_run("runs/a/best.ckpt")               # the test report again

A run folder holds ``last.ckpt`` and ``best.ckpt`` (every checkpoint stores the run configuration, the data
description and the task, so a checkpoint alone rebuilds its model), ``history.json``, ``metrics.json`` (the task's
test report plus the fit diagnosis), ``curves.png`` and the task's pictures (a confusion matrix for
classification). This module does the work; the ``cnnkit`` command only parses arguments and formats results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .atomic import json_text, write_text
from .errors import InputError
from .training.checkpoint import CheckpointError, load_checkpoint
from .training.config import RESUMABLE_FIELDS, RunConfig

__all__ = ["Run", "RunResult", "LoadedRun", "train_run", "load_run", "evaluate_run", "predict_images", "segment_images",
           "smallest_input", "detect_images", "run_state",
           "read_run_state", "free_folder", "DEFAULT_RUNS", "evaluate_ensemble"]

DEFAULT_RUNS = Path("runs")
EVAL_BATCH = 256
LENGTH_DEFINED_SCHEDULES = ("step", "cosine", "onecycle", "cyclic")  # planned over the run's length


@dataclass
class RunResult:
    """What a finished run produced: its folder, the per-epoch history and the test report (metrics.json)."""

    folder: Path
    history: object
    report: dict
    files: list[str]


@dataclass
class LoadedRun:
    """A checkpoint rebuilt: the model (weights loaded, eval mode), its task, run configuration, data description
    and the checkpoint's epoch; ``runtime`` says what runs the model (an ``.onnx`` file may run in onnxruntime, and
    one from elsewhere has no configuration: ``config`` None)."""

    model: object
    task: object
    config: RunConfig | None
    info: object
    epoch: int
    path: Path
    runtime: str = "cnnkit"
    resized: bool = False  # the training images were converted to the model's input: predictions convert theirs


# ---------------------------------------------------------------------------------------------------- saved state
def run_state(config: RunConfig, info, resized: bool = False) -> dict:
    """What each checkpoint stores about its run (see :func:`read_run_state`); ``resized``: the training images were
    converted to the model's size, so predictions convert theirs too."""
    return {"config": config.to_dict(), "data": info.to_dict(), "resized": bool(resized)}


def _legacy_config(config: dict):
    """A checkpoint written before run configurations existed kept one flat dict: map it onto the new fields (what
    the old code did with each setting, so the rebuilt optimizer is the one that trained the weights)."""
    from .data.registry import DataInfo

    if "in_channels" not in config:
        raise CheckpointError("checkpoint: its training settings are from an older format and lack the data "
                              "description (in_channels, input_size, num_classes); retrain with this version")
    keep = ("model", "dataset", "data_dir", "image_size", "epochs", "batch_size", "optimizer", "lr", "schedule",
            "warmup", "weight_decay", "l1", "augment", "val_fraction", "seed")
    fields = {k: config[k] for k in keep if k in config}
    if fields.get("dataset") != "folder":
        fields["image_size"] = None  # only the image folder was resized; the old default (32) meant nothing else
    if config.get("optimizer") in ("momentum", "nesterov"):
        fields["momentum"] = config.get("momentum", 0.9)  # the old code passed momentum to these only
    return RunConfig(**fields), DataInfo.from_dict(config)


def _checked_info(info, path):
    """A saved data description within sane bounds (a tampered one could ask for a gigantic model)."""
    for name, high in (("in_channels", 4096), ("input_size", 16384), ("num_classes", 1_000_000)):
        value = getattr(info, name)
        if not 0 <= value <= high:
            raise CheckpointError(f"{path}: the saved data description has {name}={value}, expected 0 to {high} "
                                  f"(corrupt checkpoint)")
    return info


def read_run_state(state: dict, path) -> tuple[RunConfig, object]:
    """(config, data info) of a loaded checkpoint; checkpoints of the older flat-dict format are converted."""
    from .data.registry import DataInfo

    run = state.get("run")
    if isinstance(run, dict) and "config" in run:
        return RunConfig.from_dict(run["config"]), _checked_info(DataInfo.from_dict(run.get("data", {})), path)
    if isinstance(state.get("config"), dict) and "model" in state["config"]:
        return _legacy_config(state["config"])
    raise CheckpointError(f"{path}: the checkpoint has no training config (not written by cnnkit train)")


# ---------------------------------------------------------------------------------------------------- building
def _loaders(config: RunConfig, bundle, task, parallel=None, fit=None):
    """(train, validation, test) DataLoaders: a seeded validation split of the training set. Data-parallel
    (``parallel`` on several processes): each process's training loader serves its slice of every global batch, and
    its evaluation loaders a contiguous share of the samples (the metrics are merged afterwards). ``fit``
    (channels, size) converts the images for the model after the augmentation (see :func:`prepare_data`)."""
    from .data import DataLoader, TransformDataset, train_val_split

    train_set, val_set, test_set = bundle.train, None, bundle.test
    if config.val_fraction > 0:
        train_set, val_set = train_val_split(bundle.train, config.val_fraction, seed=config.seed)
    if config.augment:
        if bundle.augmentation is None:
            raise InputError(f"dataset {bundle.name!r} has no augmentation for {bundle.task}", field="augment")
        train_set = TransformDataset(train_set, bundle.augmentation())
    if fit is not None:
        from .data.fit import FitImages

        train_set, test_set = FitImages(train_set, *fit), FitImages(test_set, *fit)
        val_set = FitImages(val_set, *fit) if val_set is not None else None
    bundle = replace(bundle, test=test_set)
    collate = task.collate_fn
    if parallel is not None and parallel.world_size > 1:
        from .data import Subset
        from .distributed import ShardedLoader, shard_bounds

        def share(dataset):
            lo, hi = shard_bounds(len(dataset), parallel.rank, parallel.world_size)
            return Subset(dataset, list(range(lo, hi)))

        train = ShardedLoader(train_set, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                              rank=parallel.rank, size=parallel.world_size)
        val = DataLoader(share(val_set), batch_size=EVAL_BATCH, collate_fn=collate) if val_set is not None else None
        test = DataLoader(share(bundle.test), batch_size=EVAL_BATCH, collate_fn=collate)
        return train, val, test
    train = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, collate_fn=collate)
    val = DataLoader(val_set, batch_size=EVAL_BATCH, collate_fn=collate) if val_set is not None else None
    test = DataLoader(bundle.test, batch_size=EVAL_BATCH, collate_fn=collate)
    return train, val, test


def prepare_data(config: RunConfig):
    """The run's data as its model takes it: ``(bundle, fit)``.

    A classification model takes images of its natural size (the model registry's ``input_size``) unless it adapts
    to the data's size (``input_size`` in its ``adapts``); ``config.image_size`` asks for another size. Datasets
    that generate or read their images at a size (shapes, folder) are loaded at that size; the others are converted
    on the fly: ``fit`` is (channels, size) for :class:`~cnnkit.data.fit.FitImages` (None when nothing changes)
    and ``bundle.info`` describes the converted images. ``config.subset`` keeps a seeded choice of that many
    training and test images."""
    from .data.fit import subset_indices
    from .data.registry import DataInfo, load_dataset
    from .models import model_info

    size, entry = config.image_size, None
    classify = config.task == "classification" and config.model is not None
    if classify:
        entry = model_info(config.model)
        if size is None and "input_size" not in entry.adapts:
            size = entry.input_size[1]
    bundle = load_dataset(config.dataset, config.task, config.data_dir, download=config.download, image_size=size)
    fit = None
    if classify:
        info = bundle.info
        channels = info.in_channels if "in_channels" in entry.adapts else entry.input_size[0]
        size = size or info.input_size
        if (channels, size) != (info.in_channels, info.input_size):
            fit = (channels, size)
            bundle = replace(bundle, info=DataInfo(channels, size, info.num_classes, info.classes))
    if config.subset:
        from .data import Subset

        bundle = replace(bundle, train=Subset(bundle.train, subset_indices(len(bundle.train), config.subset,
                                                                            config.seed)),
                         test=Subset(bundle.test, subset_indices(len(bundle.test), config.subset, config.seed + 1)))
    return bundle, fit


def _check_input_fits(model, config: RunConfig, info) -> None:
    """Refuse up front, in one line, an image size the model cannot take (one forward pass on zeros in eval mode;
    no random numbers are drawn and no state changes)."""
    import cnnkit as ck

    from .models import model_info
    from .models.sizes import min_input_size, models_taking

    entry = model_info(config.model)
    if (info.in_channels, info.input_size, info.input_size) == tuple(entry.input_size):
        return
    was_training = model.training
    model.eval()
    try:
        with ck.no_grad():
            model(ck.zeros((1, info.in_channels, info.input_size, info.input_size)))
    except InputError as err:
        s = info.input_size
        natural = "x".join(map(str, entry.input_size))
        least = min_input_size(config.model)
        at_least = f"images of at least {least}x{least} (natural size {natural})" if least else f"{natural} images"
        reason = str(err).split(": the output size")[0]
        raise InputError(f"model {config.model} cannot take {info.in_channels}x{s}x{s} images ({reason}); it takes "
                         f"{at_least}; classifiers that take {s}x{s}: {', '.join(models_taking(s)) or 'none'}",
                         field="image_size") from None
    finally:
        model.train(was_training)


def _model(config: RunConfig, info, task):
    from .models import build_model

    return build_model(config.model, num_classes=info.num_classes if task.has_classes else None,
                       in_channels=info.in_channels, input_size=info.input_size, **config.model_kwargs)


def _start_backbone(model, config: RunConfig, load: bool) -> str:
    """Transfer learning: start ``model.backbone`` from the matching weights of the ``config.init`` checkpoint (when
    ``load``: not on a resumed run, whose weights come from its own checkpoint) and freeze it with
    ``config.freeze_backbone``. Returns what was done, for the run's description ("" when nothing)."""
    if not config.init and not config.freeze_backbone:
        return ""
    from .models.detection.backbones import freeze_backbone, load_backbone_weights

    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise InputError(f"model {config.model!r} has no backbone to start from a checkpoint or to freeze",
                         field="init" if config.init else "freeze_backbone")
    done = []
    if config.init and load:
        state = load_checkpoint(Path(config.init)).get("model")
        loaded, total = load_backbone_weights(backbone, state if isinstance(state, dict) else {})
        if not loaded:
            raise InputError(f"{config.init}: none of its weights fits the backbone of {config.model} (names and "
                             f"shapes differ)", field="init")
        done.append(f"backbone: {loaded} of {total} tensors loaded from {config.init}")
    if config.freeze_backbone:
        done.append(f"backbone frozen ({freeze_backbone(model)} parameter tensors)")
    return ", ".join(done)


def _task(config: RunConfig):
    from .models import model_info
    from .training.tasks import get_task

    model_task = model_info(config.model).task
    if model_task != config.task:
        raise InputError(f"model {config.model!r} is a {model_task} model, but the run's task is {config.task}",
                         field="model")
    return get_task(config.task, **({"noise": config.noise} if config.task == "reconstruction" else {}))


def free_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... whichever does not exist yet."""
    if not base.exists():
        return base
    for i in range(2, 10_000):
        candidate = base.with_name(f"{base.name}-{i}")
        if not candidate.exists():
            return candidate
    raise InputError(f"no free run folder next to {base}", field="out")


class Run:
    """A training run ready to go: configuration, data, loaders, model, optimizer, schedule and trainer for its
    folder. :meth:`start` a new one or :meth:`resume` one from its folder, then :meth:`train`."""

    def __init__(self, config: RunConfig, folder: Path, callbacks=(), checkpoint: Path | None = None):
        from .distributed import agree

        self.parallel = _parallel()
        agree(lambda: self._build(config, folder, callbacks, checkpoint), self.parallel.group
              if self.parallel.world_size > 1 else None)

    def _build(self, config: RunConfig, folder: Path, callbacks, checkpoint) -> None:
        import cnnkit as ck

        from .optim.factory import make_optimizer, make_schedule
        from .training import EarlyStopping, HistoryLogger, Trainer

        self.config = config.validate().resolved()
        self.folder = Path(folder)
        self.task = _task(self.config)
        c = self.config
        ck.manual_seed(c.seed)
        self.data, fit = prepare_data(c)
        self.info = self.data.info
        self.task.bind(self.info)
        self.train_loader, self.val_loader, self.test_loader = _loaders(c, self.data, self.task, self.parallel, fit)
        self.model = _model(c, self.info, self.task)
        self.backbone_note = _start_backbone(self.model, c, load=checkpoint is None)
        if c.task == "classification":
            _check_input_fits(self.model, c, self.info)
        if c.sync_bn and self.parallel.world_size > 1:
            from .distributed import convert_sync_batchnorm

            convert_sync_batchnorm(self.model, self.parallel.group)
        self.optimizer = make_optimizer(c.optimizer, self.model.parameters(), lr=c.lr, momentum=c.momentum,
                                        weight_decay=c.weight_decay, l1=c.l1)
        scheduler, per_batch = make_schedule(c.schedule, self.optimizer, c.epochs, len(self.train_loader), c.warmup,
                                             cycles=c.snapshots or 1)
        callbacks = [*callbacks, HistoryLogger(self.folder / "history.json"),
                     HistoryLogger(self.folder / "history.csv")]
        if c.snapshots:
            from .training import SnapshotCheckpoint

            callbacks.append(SnapshotCheckpoint(self.folder, cycle_epochs=c.epochs // c.snapshots))
        if c.patience:
            callbacks.append(EarlyStopping(patience=c.patience, restore_best_weights=False))
        self.trainer = Trainer(self.model, self.optimizer, task=self.task, info=self.info, scheduler=scheduler,
                               scheduler_per_batch=per_batch, callbacks=callbacks, checkpoint_dir=self.folder,
                               run=run_state(c, self.info, resized=fit is not None or c.image_size is not None
                                             or c.dataset == "folder"), parallel=self.parallel)
        if checkpoint is not None:
            self.trainer.load_checkpoint(checkpoint)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def start(cls, config: RunConfig, out=None, callbacks=()) -> Run:
        """A new run in ``out`` (default ``runs/<dataset>-<model>``, numbered if taken); a folder that already
        holds a run is refused."""
        config = config.validate().resolved()
        if out is None:
            folder = free_folder(DEFAULT_RUNS / f"{config.dataset}-{config.model}")
            parallel = _parallel()
            if parallel.world_size > 1:  # every process uses the folder rank 0 picked
                folder = Path(parallel.group.bcast(str(folder), 0, "choosing the run folder"))
        else:
            folder = Path(out)
            if folder.exists() and not folder.is_dir():
                raise InputError(f"{folder} exists and is not a folder", field="out")
            if (folder / "last.ckpt").exists():
                raise InputError(f"{folder} already holds a run; resume it or choose another folder", field="out")
        return cls(config, folder, callbacks)

    @classmethod
    def resume(cls, out, changes: dict | None = None, callbacks=()) -> Run:
        """The run in folder ``out`` continued from its ``last.ckpt`` with its saved configuration. ``changes``
        may set the fields in :data:`~cnnkit.training.config.RESUMABLE_FIELDS` (e.g. more ``epochs``); a change to
        any other field is refused, naming the saved value. A schedule planned over the run's length (step,
        cosine, one-cycle) cannot be extended: its learning rates so far would not belong to the longer plan."""
        folder = Path(out)
        checkpoint = folder / "last.ckpt"
        if not checkpoint.is_file():
            raise InputError(f"no checkpoint to resume at {checkpoint}", field="out")
        saved, _ = read_run_state(load_checkpoint(checkpoint), checkpoint)
        changes = dict(changes or {})
        for name, value in changes.items():
            if name not in RESUMABLE_FIELDS and getattr(saved, name) != value:
                raise InputError(f"{folder} was trained with {name}={getattr(saved, name)!r}; a resumed run keeps "
                                 f"its settings (only {', '.join(RESUMABLE_FIELDS)} may change), got {value!r}",
                                 field=name)
        config = replace(saved, **changes)
        if config.epochs != saved.epochs and saved.schedule in LENGTH_DEFINED_SCHEDULES:
            raise InputError(f"{folder} has a {saved.schedule} learning-rate schedule planned over {saved.epochs} "
                             f"epochs; it cannot be extended to {config.epochs} (the rates already used belong to "
                             f"the shorter plan). Start a new run, or use a schedule that is not planned over the "
                             f"run's length (none, exponential, plateau) to extend runs later", field="epochs")
        return cls(config, folder, callbacks, checkpoint=checkpoint)

    # ------------------------------------------------------------------ running
    @property
    def is_writer(self) -> bool:
        """Whether this process writes the run's files and output (always, except on ranks > 0 of a data-parallel
        run)."""
        return self.parallel.is_writer

    @property
    def epoch(self) -> int:
        """Epochs completed so far (more than 0 for a resumed run)."""
        return self.trainer.epoch

    def describe(self) -> str:
        """One line: what is trained on what, with how much data, into which folder."""
        c = self.config
        params = sum(p.numel() for p in self.model.parameters())
        n_val = len(self.val_loader.dataset) if self.val_loader else 0
        n_test = len(self.test_loader.dataset)
        where = ""
        p = self.parallel
        if p.world_size > 1:
            n_val, n_test = self.data_sizes()
            where = (f" on {p.world_size} processes (data-parallel over {p.group.backend.upper()}, global batch "
                     f"{c.batch_size}{', synchronised batch norm' if c.sync_bn else ''})")
            if self.train_loader.dropped:
                where += (f"; the last {self.train_loader.dropped} sample(s) of each epoch are left out (fewer than "
                          f"the processes)")
        note = f"; {self.backbone_note}" if self.backbone_note else ""
        return (f"Training {c.model} ({c.task}) on {c.dataset}: {len(self.train_loader.dataset)} train / {n_val} val "
                f"/ {n_test} test images, {params:,} parameters{where}{note} -> {self.folder}")

    def data_sizes(self) -> tuple[int, int]:
        """(validation, test) sample counts over all processes."""
        val = self.val_loader.dataset.dataset if self.val_loader else None
        return (len(val) if val is not None else 0), len(self.test_loader.dataset.dataset)

    def train(self) -> RunResult:
        """Fit for the configured epochs (raises ``TrainingInterrupted`` on Ctrl-C, with the state saved), then
        evaluate the test set once and write the report and pictures."""
        created = self.is_writer and not self.folder.exists()
        if self.is_writer:
            self.folder.mkdir(parents=True, exist_ok=True)
        try:
            history = self.trainer.fit(self.train_loader, self.val_loader, epochs=self.config.epochs)
        except BaseException:
            if created and not (self.folder / "last.ckpt").exists():  # a failed start leaves no folder behind
                import shutil

                shutil.rmtree(self.folder, ignore_errors=True)
            raise
        report, figures = _test_report(self.trainer, self.test_loader, self.task, self.info)
        if not self.is_writer:  # the report is the same on every process; rank 0 writes it
            return RunResult(self.folder, history, report, [])
        from .training.history import diagnose

        report.update(epochs=self.trainer.epoch, fit=diagnose(history, score=self.task.score),
                      run_folder=str(self.folder))
        write_text(self.folder / "metrics.json", json_text(report, indent=2))
        files = [name for name in ("last.ckpt", "best.ckpt") if (self.folder / name).exists()]
        files += ["history.json", "history.csv", "metrics.json"]
        if self.config.snapshots:
            snapshots = sorted(self.folder.glob("snapshot-*.ckpt"), key=lambda p: int(p.stem.split("-")[1]))
            ens = evaluate_ensemble(snapshots, data_dir=self.config.data_dir)
            report["snapshot_ensemble"] = {"members": len(snapshots), **ens["mean"],
                                           "member_test_accuracy": [m["test_accuracy"] for m in ens["members"]],
                                           "member_test_loss": [m["test_loss"] for m in ens["members"]]}
            write_text(self.folder / "metrics.json", json_text(report, indent=2))
            files += [p.name for p in snapshots]
        figures = figures + self.task.examples(self.model, self.test_loader.dataset, self.info)
        figures = figures + [f for cb in self.trainer.callbacks.callbacks if hasattr(cb, "figures")
                             for f in cb.figures()]  # callbacks' end-of-run pictures (training diagnostics)
        files += _draw(self.folder, history, self.task, figures, title=f"{self.config.model} on {self.config.dataset}")
        return RunResult(self.folder, history, report, files)


def _parallel():
    """How this process trains: data-parallel when started by an MPI launcher with several processes."""
    from .distributed import DataParallel, world

    group = world()
    if group.size == 1:
        from .training.parallel import SingleProcess

        return SingleProcess()
    return DataParallel(group)


def _test_report(trainer, loader, task, info) -> tuple[dict, list]:
    """The task's test report and figures from ONE evaluation pass."""
    results = trainer.evaluate(loader, report=True)
    results["test_loss"] = results.pop("loss")
    return task.report(results, info)


def _draw(folder: Path, history, task, figures, title: str) -> list[str]:
    """curves.png and the task's figures; returns the file names written."""
    from . import viz

    viz.plot_curves(history, folder / "curves.png", title=title, keys=task.curves)
    written = ["curves.png"]
    for fig in figures:
        draw = viz.FIGURES[fig.kind]
        draw(folder / fig.filename, **fig.data)
        written.append(fig.filename)
    return written


def train_run(config: RunConfig, out=None, callbacks=(), resume: bool = False) -> RunResult:
    """Train a run to the end: :meth:`Run.start` (or, with ``resume``, :meth:`Run.resume` of ``out`` with the
    config's epochs), then :meth:`Run.train`."""
    if resume:
        run = Run.resume(out, {"epochs": config.epochs}, callbacks=callbacks)
    else:
        run = Run.start(config, out, callbacks=callbacks)
    return run.train()


# ---------------------------------------------------------------------------------------------------- checkpoints
def load_run(checkpoint, runtime: str = "auto") -> LoadedRun:
    """Rebuild the model of a checkpoint (weights loaded, eval mode) with its task, configuration and data
    description. An ``.onnx`` file runs through ``runtime`` (see :func:`cnnkit.interchange.load_onnx_run`)."""
    path = Path(checkpoint)
    if path.suffix.lower() == ".onnx":
        from .interchange import load_onnx_run

        return load_onnx_run(path, runtime)
    state = load_checkpoint(path)
    try:
        config, info = read_run_state(state, path)
        config = config.validate().resolved()
        if not isinstance(state.get("model"), dict):
            raise CheckpointError(f"{path}: the checkpoint has no model weights")
        task = _task(config).bind(info)
        from .nn.init import skip_init

        with skip_init():  # the weights come from the checkpoint: a model they do not fit costs no memory
            model = _model(config, info, task)
        model.load_state_dict(state["model"])
        epoch = int(state.get("epoch", 0))
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, MemoryError) as err:
        raise CheckpointError(f"{path}: corrupt training settings or weights ({type(err).__name__}: "
                              f"{one_line_text(err)})") from None
    model.eval()
    _check_finite(model, path)
    resized = bool(state["run"].get("resized", False)) if isinstance(state.get("run"), dict) else False
    return LoadedRun(model, task, config, info, epoch, path, resized=resized)


def one_line_text(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def _check_finite(model, path) -> None:
    """A checkpoint whose weights hold NaN or infinity cannot predict anything: refuse it, naming the tensors."""
    bad = [name for name, t in model.state_dict().items()
           if np.asarray(t).dtype.kind == "f" and not np.isfinite(np.asarray(t)).all()]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise CheckpointError(f"{path}: the weights hold NaN or infinite values ({', '.join(bad[:3])}{more}); "
                              f"the training that wrote it diverged, use an earlier checkpoint")


def evaluate_run(checkpoint, data_dir=None, dataset: str | None = None, runtime: str = "auto") -> dict:
    """The test report of a checkpoint on its run's test set (``data_dir`` overrides where the data lives). An
    ``.onnx`` model runs through ``runtime``; one without cnnkit's run metadata needs ``dataset``."""
    from .training import Trainer

    loaded = load_run(checkpoint, runtime)
    config = loaded.config
    if config is None:
        if dataset is None:
            raise InputError(f"{loaded.path} carries no cnnkit run settings; name the dataset to evaluate it on",
                             field="dataset")
        config = RunConfig(dataset=dataset, task=loaded.task.name)
    elif dataset is not None and dataset != config.dataset:
        config = replace(config, dataset=dataset)
    if data_dir:
        config = replace(config, data_dir=data_dir)
    bundle, fit = prepare_data(replace(config, download=False))
    info = loaded.info if loaded.config is not None else bundle.info
    _, _, test = _loaders(replace(config, val_fraction=0.0, augment=False), bundle, loaded.task, fit=fit)
    trainer = Trainer(loaded.model, None, task=loaded.task, info=info)  # evaluation only: no optimizer
    report, _ = _test_report(trainer, test, loaded.task, info)
    return {"checkpoint": str(loaded.path), "epoch": loaded.epoch, "runtime": loaded.runtime, **report}


def predict_images(loaded: LoadedRun, paths, resize: bool = False, top_k: int = 3, invert: bool = False,
                   batch_size: int = 64) -> list[dict]:
    """Top-k classes of each image for a classification checkpoint. ``paths``: image files, folders (their image
    files, sorted) or glob patterns (see :func:`cnnkit.data.images.expand_images`). Images are converted to the
    model's channels and size when ``resize`` is set or the training images were converted (``loaded.resized``);
    ``invert`` turns dark-on-light pictures into the light-on-dark of the digit datasets (1 - value)."""
    import cnnkit as ck

    from .data.images import expand_images, read_image

    if loaded.task.name != "classification":
        raise InputError(f"{loaded.path} is a {loaded.task.name} checkpoint; predicting classes needs a "
                         f"classification one", field="checkpoint")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"predict: top_k must be an int >= 1, got {top_k!r}", field="top_k")
    info = loaded.info
    files = expand_images(paths)
    resize = resize or loaded.resized  # the training images were converted: convert these the same way
    results = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        images = np.stack([read_image(p, info.in_channels, info.input_size, resize=resize) for p in chunk])
        if invert:
            images = 1.0 - images
        with ck.no_grad():
            probs = ck.functional.softmax(loaded.model(ck.tensor(images)), dim=1).numpy()
        classes = list(info.classes) or [str(i) for i in range(probs.shape[1])]
        k = min(top_k, probs.shape[1])
        for path, p in zip(chunk, probs, strict=True):
            top = np.argsort(-p, kind="stable")[:k]
            results.append({"image": str(path), "top": [{"class": classes[i], "index": int(i),
                                                          "probability": round(float(p[i]), 6)} for i in top]})
    return results


# ---------------------------------------------------------------------------------------------------- segmentation
def _scores_at(model, x: np.ndarray) -> np.ndarray:
    """Class scores (1, K, H, W) of one image x (1, C, H, W) at its own size: a model whose output is smaller or
    larger (strided heads) has its scores resized bilinearly to the image."""
    from .data.transforms import resize

    scores = _forward_array(model, x)
    if scores.ndim != 4:
        raise InputError(f"segment: the model gives outputs of shape {scores.shape}, not class-score maps "
                         f"(N, classes, H, W)")
    if scores.shape[2:] != x.shape[2:]:
        scores = resize(scores[0], tuple(x.shape[2:]))[None]
    return scores


def _forward_array(model, x: np.ndarray) -> np.ndarray:
    """The model's output on a batch array, as an array (no graph recorded)."""
    import cnnkit as ck

    with ck.no_grad():
        out = model(ck.tensor(x))
    return out.data if hasattr(out, "data") else np.asarray(out)


def smallest_input(model, channels: int, limit: int = 1024) -> int | None:
    """The smallest square side (up to ``limit``) the model takes: forward passes on zeros (eval mode) of growing
    size, one by one up to 64, then doubling (None when none up to ``limit`` works)."""
    sides = list(range(1, 65)) + [2 ** k for k in range(7, 11) if 2 ** k <= limit]
    for side in sides:
        try:
            _forward_array(model, np.zeros((1, channels, side, side), np.float32))
            return side
        except ValueError:  # InputError and the shape errors of layers that cannot take this side
            continue
    return None


def _segment_one(model, image: np.ndarray, path, name: str) -> np.ndarray:
    """Class-score map (K, H, W) of one image (C, H, W) of any size: the image as it is, else padded at the bottom
    and right (edge pixels) to a multiple of 2, 4, ... 64 for networks whose down- and upsampling need one (the
    scores of the padding are cut off). An image smaller than the network's least input is refused."""
    _, h, w = image.shape
    x = image[None].astype(np.float32)
    try:
        return _scores_at(model, x)[0]
    except ValueError as err:
        first = err
    least = smallest_input(model, image.shape[0])
    if least is not None and min(h, w) < least:
        raise InputError(f"{path} is a {w}x{h} image, smaller than the {least}x{least} pixels model {name} needs "
                         f"at least (its downsampling leaves nothing of a smaller image)") from None
    for multiple in (2, 4, 8, 16, 32, 64):
        ph, pw = -h % multiple, -w % multiple
        padded = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        try:
            return _scores_at(model, padded)[0, :, :h, :w]
        except ValueError:
            continue
    raise InputError(f"{path}: model {name} cannot take this {w}x{h} image ({one_line_text(first)})") from None


def segment_images(loaded: LoadedRun, paths, out) -> list[dict]:
    """Segment image files with a segmentation checkpoint: for each image, ``<out>/<name>_mask.png`` (a palette PNG
    whose pixel values are the class indices) and ``<out>/<name>_overlay.png`` (the classes' colours over the
    image). Images of any size (at least the network's least input) are taken as they are. Returns per image the
    files, its size, the seconds the model took and the area of each class (pixels and fraction of the image)."""
    import time

    from .data.images import expand_images, open_image
    from .viz.segmentation import overlay_mask, save_mask_png, save_rgb_png

    if loaded.task.name != "segmentation":
        raise InputError(f"{loaded.path} is a {loaded.task.name} checkpoint; segmenting images needs a segmentation "
                         f"one", field="checkpoint")
    info = loaded.info
    files = expand_images(paths)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder", field="out")
    out.mkdir(parents=True, exist_ok=True)
    classes = list(info.classes) or [str(i) for i in range(info.num_classes)]
    name = loaded.config.model if loaded.config is not None else loaded.path.name
    loaded.model.eval()
    results, used = [], set()
    for path in files:
        image = open_image(path, "L" if info.in_channels == 1 else "RGB")
        start = time.perf_counter()
        mask = _segment_one(loaded.model, image, path, name).argmax(axis=0)
        seconds = time.perf_counter() - start
        stem = path.stem
        for i in range(2, len(files) + 2):  # two inputs of the same name (different folders) get their own files
            if stem not in used:
                break
            stem = f"{path.stem}-{i}"
        used.add(stem)
        mask_file, overlay_file = out / f"{stem}_mask.png", out / f"{stem}_overlay.png"
        save_mask_png(mask_file, mask)
        save_rgb_png(overlay_file, overlay_mask(image, mask))
        counts = np.bincount(mask.reshape(-1), minlength=len(classes))
        areas = {c: {"pixels": int(counts[i]), "fraction": round(float(counts[i]) / mask.size, 6)}
                 for i, c in enumerate(classes)}
        results.append({"image": str(path), "width": int(image.shape[2]), "height": int(image.shape[1]),
                        "mask": str(mask_file), "overlay": str(overlay_file), "seconds": round(seconds, 4),
                        "areas": areas})
    return results


# ---------------------------------------------------------------------------------------------------- detection
def detect_images(loaded: LoadedRun, paths, score_threshold: float = 0.5, out=None, batch_size: int = 16) -> list[dict]:
    """Objects found in each image by a detection checkpoint: ``paths`` as for :func:`predict_images`. Each image is
    resized to the model's input for the detector and the boxes scaled back to the image's own pixels; detections
    scoring below ``score_threshold`` are dropped. With ``out`` (a folder) each image is drawn with its labelled
    boxes as ``<out>/<image name>.png``. Returns per image ``{"image", "size": [width, height], "boxes" (xyxy),
    "scores", "labels", "classes", "picture"}``."""
    import numbers

    import cnnkit as ck

    from .data.images import expand_images, open_image
    from .data.targets import as_numpy

    if loaded.task.name != "detection":
        raise InputError(f"{loaded.path} is a {loaded.task.name} checkpoint; detecting objects needs a detection one",
                         field="checkpoint")
    if isinstance(score_threshold, bool) or not isinstance(score_threshold, numbers.Real) or \
            not 0 <= score_threshold <= 1:
        raise InputError(f"detect: the score threshold must be a number in [0, 1], got {score_threshold!r}",
                         field="score_threshold")
    info = loaded.info
    classes = list(info.classes) or [str(i) for i in range(info.num_classes)]
    mode, size = ("L" if info.in_channels == 1 else "RGB"), info.input_size
    files = expand_images(paths)
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    results = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        originals = [open_image(p, mode) for p in chunk]
        images = np.stack([open_image(p, mode, (size, size)) for p in chunk])
        with ck.no_grad():
            outputs = loaded.model(ck.tensor(images))
        for path, original, det in zip(chunk, originals, outputs, strict=True):
            height, width = original.shape[1:]
            scores = as_numpy(det["scores"]).astype(np.float32).reshape(-1)
            keep = np.flatnonzero(scores >= score_threshold)
            keep = keep[np.argsort(-scores[keep], kind="stable")]
            scale = np.array([width / size, height / size] * 2, np.float32)
            boxes = as_numpy(det["boxes"]).astype(np.float32).reshape(-1, 4)[keep] * scale
            labels = as_numpy(det["labels"]).astype(np.int64).reshape(-1)[keep]
            picture = None
            if folder is not None:
                name = path.stem
                while name in taken:
                    name += "_"
                taken.add(name)
                picture = folder / f"{name}.png"
                from .viz import draw_boxes

                draw_boxes(original, boxes, labels, scores[keep], classes, path=picture)
            results.append({"image": str(path), "size": [int(width), int(height)],
                            "boxes": [[round(float(v), 2) for v in b] for b in boxes],
                            "scores": [round(float(v), 4) for v in scores[keep]],
                            "labels": [int(v) for v in labels],
                            "classes": [classes[v] if 0 <= v < len(classes) else str(v) for v in labels],
                            "picture": None if picture is None else str(picture)})
    return results


# ---------------------------------------------------------------------------------------------------- ensembles
def evaluate_ensemble(checkpoints, data_dir=None) -> dict:
    """Evaluate several classification checkpoints of the same data on its test set, each alone and together as a
    :class:`~cnnkit.models.ensemble.Ensemble` (probability averaging and majority vote). Returns ``members`` (each
    checkpoint's test accuracy and loss), ``mean`` (accuracy and loss of the averaged probabilities), ``vote``
    (accuracy of the vote) and ``best_member`` (index of the member with the lowest test loss)."""
    import cnnkit as ck

    from .models.ensemble import Ensemble, ensemble_report

    paths = [Path(c) for c in checkpoints]
    if not paths:
        raise InputError("evaluate: no checkpoints given", field="checkpoint")
    loaded = [load_run(p) for p in paths]
    first = loaded[0]
    for run in loaded:
        if run.task.name != "classification":
            raise InputError(f"{run.path} is a {run.task.name} checkpoint; an ensemble combines classifiers",
                             field="checkpoint")
        if (run.config.dataset, run.info.num_classes, run.info.input_size, run.info.in_channels) != (
                first.config.dataset, first.info.num_classes, first.info.input_size, first.info.in_channels):
            raise InputError(f"{run.path} was trained on {run.config.dataset} ({run.info.num_classes} classes, "
                             f"{run.info.in_channels}x{run.info.input_size}x{run.info.input_size}) but {first.path} on "
                             f"{first.config.dataset} ({first.info.num_classes} classes, {first.info.in_channels}x"
                             f"{first.info.input_size}x{first.info.input_size}); an ensemble needs members of the same "
                             f"data", field="checkpoint")
    config = replace(first.config, data_dir=data_dir) if data_dir else first.config
    bundle, fit = prepare_data(replace(config, download=False))
    _, _, test = _loaders(replace(config, val_fraction=0.0, augment=False), bundle, first.task, fit=fit)
    ensemble = Ensemble([run.model for run in loaded])
    ensemble.eval()
    probs, labels = [], []
    with ck.no_grad():
        for batch in test:
            inputs, targets = first.task.unpack(batch)
            probs.append(ensemble.member_probabilities(inputs))
            labels.append(np.asarray(targets.data if hasattr(targets, "data") else targets))
    report = ensemble_report(np.concatenate(probs, axis=1), np.concatenate(labels))
    for member, run in zip(report["members"], loaded, strict=True):
        member.update(checkpoint=str(run.path), epoch=run.epoch)
    return report
