"""Optimizers and learning-rate schedules by name (what a run configuration names).

    opt = make_optimizer("momentum", model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched, per_batch = make_schedule("cosine", opt, epochs=20, steps_per_epoch=50, warmup=2)
    sched, per_batch = make_schedule("cyclic", opt, epochs=20, steps_per_epoch=50, cycles=5)   # snapshot ensembles

``momentum`` is the momentum of SGD-with-momentum and Nesterov, and RMSprop's momentum (0 keeps RMSprop plain;
Adam-family optimizers have betas instead and refuse a non-default value). ``l1`` is every optimizer's L1 option
(the gradient of l1 * sum|w| added in the update loop): the one way the training workflow applies an L1 penalty.
"""

from __future__ import annotations

from ..errors import InputError
from . import lr_scheduler as S
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["OPTIMIZERS", "SCHEDULES", "DEFAULT_LR", "make_optimizer", "make_schedule"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "onecycle", "exponential", "plateau", "cyclic")
DEFAULT_LR = {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 1e-3, "adam": 3e-3,
              "adamw": 3e-3}
DEFAULT_MOMENTUM = 0.9
ADAMW_DEFAULT_DECAY = 1e-2


def make_optimizer(name: str, params, lr: float | None = None, momentum: float | None = None,
                   weight_decay: float = 0.0, l1: float = 0.0):
    """The optimizer called ``name`` (one of :data:`OPTIMIZERS`) over ``params``; ``lr`` None takes the name's
    default (:data:`DEFAULT_LR`), ``momentum`` None takes 0.9 for momentum/nesterov and 0 for RMSprop."""
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}", field="optimizer")
    lr = DEFAULT_LR[name] if lr is None else lr
    common = {"lr": lr, "weight_decay": weight_decay, "l1": l1}
    if name in ("adagrad", "adam", "adamw", "sgd") and momentum not in (None, 0, 0.0):
        raise InputError(f"optimizer {name!r} has no momentum setting, got momentum={momentum}", field="momentum")
    if name == "sgd":
        return SGD(params, **common)
    if name in ("momentum", "nesterov"):
        return SGD(params, momentum=DEFAULT_MOMENTUM if momentum is None else momentum,
                   nesterov=name == "nesterov", **common)
    if name == "adagrad":
        return Adagrad(params, **common)
    if name == "rmsprop":
        return RMSprop(params, momentum=momentum or 0.0, **common)
    if name == "adam":
        return Adam(params, **common)
    return AdamW(params, **{**common, "weight_decay": weight_decay or ADAMW_DEFAULT_DECAY})


def make_schedule(name: str, optimizer, epochs: int, steps_per_epoch: int, warmup: int = 0, cycles: int = 1):
    """(scheduler or None, stepped per batch?) for schedule ``name`` (one of :data:`SCHEDULES`) over a run of
    ``epochs`` epochs, with an optional linear warm-up over the first ``warmup`` epochs. ``cyclic`` is cosine
    annealing restarted ``cycles`` times (each cycle ``epochs / cycles`` epochs, stepped per batch): the schedule of
    snapshot ensembles."""
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}", field="schedule")
    if name == "cyclic":
        if warmup:
            raise InputError("a cyclic schedule restarts its own rate; it cannot be combined with a warm-up",
                             field="warmup")
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1 or epochs % cycles:
            raise InputError(f"a cyclic schedule needs a whole number of epochs per cycle: {epochs} epochs cannot "
                             f"be split into {cycles} cycles", field="snapshots")
        return S.CosineAnnealingWarmRestarts(optimizer, T_0=epochs // cycles * steps_per_epoch), True
    main_epochs = max(1, epochs - warmup)
    if name == "onecycle":
        if warmup:
            raise InputError("a one-cycle schedule has its own warm-up; it cannot be combined with another",
                             field="warmup")
        max_lr = optimizer.param_groups[0]["lr"]
        cycle = "momentum" in optimizer.defaults or "betas" in optimizer.defaults  # (Adagrad has neither)
        return S.OneCycleLR(optimizer, max_lr=max_lr, total_steps=epochs * steps_per_epoch,
                            cycle_momentum=cycle), True
    schedulers = {
        "none": lambda: None,
        "step": lambda: S.StepLR(optimizer, step_size=max(1, main_epochs // 3), gamma=0.1),
        "cosine": lambda: S.CosineAnnealingLR(optimizer, T_max=main_epochs),
        "exponential": lambda: S.ExponentialLR(optimizer, gamma=0.9),
        "plateau": lambda: S.ReduceLROnPlateau(optimizer, factor=0.5, patience=2),
    }
    if warmup and name == "plateau":
        raise InputError("a plateau schedule cannot be combined with a warm-up", field="warmup")
    main = schedulers[name]()
    if not warmup:
        return main, False
    warm = S.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    if main is None:
        return warm, False
    return S.SequentialLR(optimizer, [warm, main], milestones=[warmup]), False
