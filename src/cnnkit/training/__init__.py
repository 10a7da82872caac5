"""Training: the fit loop, callbacks, metrics, checkpoints and history."""

from .callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    HistoryLogger,
    JSONMetrics,
    LRSchedulerStep,
    ModelCheckpoint,
    ProgressBar,
    format_epoch_line,
)
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .history import History, diagnose
from .metrics import accuracy, confusion_matrix, get_metric, precision_recall_f1, top_k_accuracy
from .trainer import NonFiniteLossError, Trainer, TrainingInterrupted, fit
