"""Optimizers sharing one update loop, learning-rate schedulers and L1/L2 regularization.

    opt = ck.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = ck.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .regularization import l1_penalty, l2_penalty
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "l1_penalty", "l2_penalty", "lr_scheduler"]
