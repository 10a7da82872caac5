"""Training: tasks, the task-general fit loop, callbacks, streaming-metric plumbing, checkpoints, history and the
run configuration."""

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
from .config import RESUMABLE_FIELDS, RunConfig
from .diagnostics import ActivationStats, GradientStats, TensorBoard
from .history import History, diagnose
from .metrics import accuracy, confusion_matrix, get_metric, precision_recall_f1, top_k_accuracy
from .snapshots import SnapshotCheckpoint
from .tasks import (
    ClassificationTask,
    DetectionTask,
    Figure,
    ReconstructionTask,
    SegmentationTask,
    Task,
    get_task,
)
from .trainer import NonFiniteLossError, Trainer, TrainingInterrupted, fit
