"""The run configuration: everything that defines a training run, in one frozen dataclass.

    config = RunConfig(dataset="digits", epochs=20, optimizer="momentum", lr=0.05, schedule="onecycle")
    config.to_dict() / RunConfig.from_dict(d)      # what every checkpoint stores; resume restores it

It is built from command-line arguments or in Python, validated once (:meth:`RunConfig.validate`: an
:class:`~cnnkit.errors.InputError` naming the field), resolved once (:meth:`RunConfig.resolved`: the default model
of the task and dataset, the default learning rate of the optimizer) and then only read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import InputError

__all__ = ["RunConfig", "RESUMABLE_FIELDS"]

# Fields a resumed run may change: the rest define the run and are restored from its checkpoint.
RESUMABLE_FIELDS = ("epochs", "data_dir", "download", "patience")


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``model`` None takes the task's default model for the dataset and ``lr`` None the
    optimizer's default learning rate (see :meth:`resolved`); ``model_kwargs`` go to the model builder."""

    task: str = "classification"
    dataset: str = "digits"
    model: str | None = None
    data_dir: str | None = None
    download: bool = False
    image_size: int | None = None
    epochs: int = 15
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float = 0.0
    l1: float = 0.0
    schedule: str = "cosine"
    warmup: int = 0
    augment: bool = False
    val_fraction: float = 0.1
    seed: int = 0
    patience: int = 0
    model_kwargs: dict = field(default_factory=dict)
    sync_bn: bool = False  # data-parallel: batch-norm statistics over the global batch (no effect on one process)
    snapshots: int = 0  # > 0: a snapshot ensemble, the cosine schedule restarted this many times, a checkpoint each
    subset: int = 0  # > 0: train and test on a seeded choice of this many images of each set (quick trials)
    noise: float = 0.0  # reconstruction: std of the Gaussian noise added to the input only (a denoising autoencoder)
    init: str | None = None  # a checkpoint whose matching weights start the model's backbone (transfer learning)
    freeze_backbone: bool = False  # the backbone's weights (and batch-norm statistics) stay fixed

    # ------------------------------------------------------------------ checks
    def validate(self) -> RunConfig:
        """Check every field (types and ranges, names that exist); returns self."""
        from ..data.registry import dataset_info
        from ..optim.factory import OPTIMIZERS, SCHEDULES
        from .tasks import TASKS

        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"run config: {name} must be an int >= {low}, got {value!r}", field=name)

        def real(name, low, high=math.inf, open_high=False):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and low <= value and (value < high if open_high else value <= high)
            if not ok:
                bound = f"in [{low}, {high}{')' if open_high else ']'}" if high != math.inf else f">= {low}"
                raise InputError(f"run config: {name} must be a finite number {bound}, got {value!r}", field=name)

        if self.task not in TASKS:
            raise InputError(f"run config: unknown task {self.task!r}; expected one of {', '.join(TASKS)}",
                             field="task")
        dataset_info(self.dataset)
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"run config: unknown optimizer {self.optimizer!r}; expected one of "
                             f"{', '.join(OPTIMIZERS)}", field="optimizer")
        if self.schedule not in SCHEDULES:
            raise InputError(f"run config: unknown schedule {self.schedule!r}; expected one of "
                             f"{', '.join(SCHEDULES)}", field="schedule")
        for name, low in (("epochs", 1), ("batch_size", 1), ("warmup", 0), ("seed", 0), ("patience", 0),
                          ("snapshots", 0), ("subset", 0)):
            integer(name, low)
        if self.image_size is not None:
            integer("image_size", 4)
        if self.lr is not None:
            real("lr", 0.0)
            if self.lr == 0:
                raise InputError("run config: lr must be positive, got 0", field="lr")
        if self.momentum is not None:
            real("momentum", 0.0, 1.0, open_high=True)
        real("weight_decay", 0.0)
        real("l1", 0.0)
        real("val_fraction", 0.0, 1.0, open_high=True)
        real("noise", 0.0)
        if self.noise and self.task != "reconstruction":
            raise InputError(f"run config: noise (a denoising autoencoder's input noise) applies to the reconstruction "
                             f"task, not {self.task}", field="noise")
        if self.warmup >= self.epochs:
            raise InputError(f"run config: warmup ({self.warmup} epochs) must be shorter than the run "
                             f"({self.epochs} epochs)", field="warmup")
        if not isinstance(self.sync_bn, bool):
            raise InputError(f"run config: sync_bn must be a bool, got {self.sync_bn!r}", field="sync_bn")
        if self.snapshots:
            if self.schedule not in ("cosine", "cyclic"):
                raise InputError(f"run config: snapshots use the cyclic cosine schedule, but the schedule is "
                                 f"{self.schedule!r}", field="schedule")
            if self.epochs % self.snapshots:
                raise InputError(f"run config: {self.epochs} epochs cannot be split into {self.snapshots} equal "
                                 f"snapshot cycles; choose epochs a multiple of snapshots", field="snapshots")
        if self.init is not None and (not isinstance(self.init, str) or not self.init):
            raise InputError(f"run config: init must be a checkpoint path, got {self.init!r}", field="init")
        if not isinstance(self.freeze_backbone, bool):
            raise InputError(f"run config: freeze_backbone must be a bool, got {self.freeze_backbone!r}",
                             field="freeze_backbone")
        if not isinstance(self.model_kwargs, dict):
            raise InputError(f"run config: model_kwargs must be a dict, got {type(self.model_kwargs).__name__}",
                             field="model_kwargs")
        return self

    def resolved(self) -> RunConfig:
        """A copy with the defaults filled in: the model (the task's default for the dataset) and the learning
        rate (the optimizer's default); with ``snapshots`` the cosine schedule becomes the cyclic one."""
        from ..models import default_model
        from ..optim.factory import DEFAULT_LR

        model = self.model
        if model is None:
            model = default_model(self.task, self.dataset)
            if model is None:
                raise InputError(f"no default model for {self.task} on {self.dataset!r}; name one", field="model")
        lr = DEFAULT_LR[self.optimizer] if self.lr is None else self.lr
        schedule = "cyclic" if self.snapshots and self.schedule == "cosine" else self.schedule
        return replace(self, model=model, lr=lr, schedule=schedule)

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Rebuild from :meth:`to_dict` (unknown keys are refused, missing ones take their defaults)."""
        if not isinstance(d, dict):
            raise InputError(f"run config: expected a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"run config: unknown field(s) {', '.join(unknown)}")
        return cls(**d)

    def differences(self, other: RunConfig) -> dict:
        """{field: (self's value, other's value)} for the fields that differ."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)}
