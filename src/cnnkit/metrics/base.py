"""The streaming-metric protocol: :class:`Metric` and :class:`MetricCollection`.

A metric keeps *sufficient statistics* (sums, counts, a confusion matrix) in a small dict of NumPy arrays, its
``state``. ``update`` adds one batch's statistics to it, ``compute`` turns it into the metric's value, ``reset``
zeroes it. Every state entry is a sum over batches, so the state of a stream is the sum of the states of its
parts: ``merge`` adds another instance's state (metrics computed on shards of the data, e.g. one per process,
combine exactly), and memory never depends on how many samples were seen.

The state arrays are allocated once, when the metric is made, and only ever changed in place: ``state[key]`` is
the same array object for the metric's whole life (so a distributed all-reduce may sum into it directly).

Undefined values: a ratio whose denominator is zero (accuracy before any sample, the mean of no weight, the IoU of
a class absent from both prediction and target) is NaN, except in :class:`PrecisionRecallF1`, which follows the
usual convention that an undefined precision, recall or F1 is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import numpy as np

from ..errors import InputError, InputTypeError, StateDictError

__all__ = ["Metric", "MetricCollection"]


class Metric:
    """Base class of the streaming metrics.

    Subclasses declare their state in :meth:`_state_spec` (``{key: (shape, dtype)}``), the statistics of one batch
    in :meth:`_batch_state` (``{key: value to add}``) and the value in :meth:`compute`.

    Attributes: ``name`` (the key a trainer logs the value under), ``higher_is_better`` (True for scores,
    False for losses and errors, None for values that are not a score, such as a confusion matrix).
    """

    name: str = "metric"
    higher_is_better: bool | None = True

    def __init__(self, name: str | None = None):
        if name is not None:
            if not isinstance(name, str) or not name:
                raise InputTypeError(f"{type(self).__name__}: name must be a non-empty str, got {name!r}")
            self.name = name
        self._state = {key: np.zeros(shape, dtype=dtype) for key, (shape, dtype) in self._state_spec().items()}

    # ------------------------------------------------------------------ to implement
    def _state_spec(self) -> dict[str, tuple[tuple[int, ...], type]]:
        raise NotImplementedError

    def _batch_state(self, output, target) -> dict[str, np.ndarray]:
        """Validate one batch and return its statistics (every key of the state); must not touch the state."""
        raise NotImplementedError

    def compute(self):
        """The metric's value over everything seen since the last reset."""
        raise NotImplementedError

    def _default_name(self) -> str:
        return type(self).name

    def _config(self) -> dict:
        """The constructor arguments that decide what the state means (checked by :meth:`merge`)."""
        return {}

    # ------------------------------------------------------------------ the protocol
    def update(self, output, target) -> None:
        """Add one batch. A batch that fails validation leaves the state unchanged."""
        self._add(self._batch_state(output, target))

    def reset(self) -> None:
        """Forget everything seen (zeroes the state in place)."""
        for array in self._state.values():
            array[...] = 0

    @property
    def state(self) -> Mapping[str, np.ndarray]:
        """The live state arrays, read-only as a mapping: ``{key: ndarray}``, each a sum over batches."""
        return MappingProxyType(self._state)

    def merge(self, other: Metric) -> Metric:
        """Add ``other``'s state to this one (same metric type and configuration); returns ``self``.

        Merging the metrics of two disjoint parts of the data gives the metric of their union."""
        if type(other) is not type(self):
            raise InputTypeError(f"{type(self).__name__}.merge: expected another {type(self).__name__}, got "
                                 f"{type(other).__name__}")
        if other._config() != self._config():
            raise InputError(f"{type(self).__name__}.merge: configurations differ ({self._config()} vs "
                             f"{other._config()})")
        self._add(other._merge_stats())
        return self

    def _merge_stats(self) -> Mapping[str, np.ndarray]:
        """What :meth:`merge` adds of this metric to another (its state; more for metrics that keep records)."""
        return self._state

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the state, ``{key: ndarray}`` (plain arrays: saves without pickled code)."""
        return {key: array.copy() for key, array in self._state.items()}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Replace the state by ``state_dict`` (as :meth:`state_dict` returns it; values are copied in)."""
        self._assign(self._checked_state(state_dict, f"{type(self).__name__}.load_state_dict"))

    def _checked_state(self, state_dict: Mapping, where: str) -> dict[str, np.ndarray]:
        if not isinstance(state_dict, Mapping):
            raise StateDictError(f"{where}: expected a mapping, got {type(state_dict).__name__}")
        missing, unexpected = sorted(set(self._state) - set(state_dict)), sorted(set(state_dict) - set(self._state))
        if missing or unexpected:
            raise StateDictError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        for key, array in self._state.items():
            value = np.asarray(state_dict[key])
            if value.shape != array.shape:
                raise StateDictError(f"{where}: {key!r} has shape {value.shape}, expected {array.shape}")
            if not np.can_cast(value.dtype, array.dtype, casting="same_kind"):
                raise StateDictError(f"{where}: {key!r} has dtype {value.dtype}, expected {array.dtype}")
            values[key] = value
        return values

    def _assign(self, values: Mapping[str, np.ndarray]) -> None:
        for key, value in values.items():
            self._state[key][...] = value

    # ------------------------------------------------------------------ helpers
    def _add(self, stats: Mapping[str, np.ndarray]) -> None:
        for key, array in self._state.items():
            array += stats[key]

    def __repr__(self) -> str:
        args = [f"{k}={v!r}" for k, v in self._config().items()]
        if self.name != self._default_name():
            args.append(f"name={self.name!r}")
        return f"{type(self).__name__}({', '.join(args)})"


class MetricCollection(Mapping):
    """Several metrics updated, computed, reset and merged together: ``MetricCollection({name: metric})`` (or
    a list of metrics, keyed by their ``name``). A read-only mapping of name to metric.

    ``update(*args)`` passes the same arguments to every metric; the batch is validated by all of them before
    any state changes, so a bad batch leaves every metric as it was. ``compute()`` returns ``{name: value}``.
    ``state`` and ``state_dict()`` are flat, keyed ``"<name>.<key>"``.
    """

    def __init__(self, metrics: Mapping[str, Metric] | Iterable[Metric]):
        if isinstance(metrics, Mapping):
            items = list(metrics.items())
        else:
            try:
                items = [(getattr(m, "name", None), m) for m in metrics]
            except TypeError:
                raise InputTypeError(f"MetricCollection: expected a dict of metrics or a list of metrics, got "
                                     f"{type(metrics).__name__}") from None
        self._metrics: dict[str, Metric] = {}
        for name, metric in items:
            if not isinstance(metric, Metric):
                raise InputTypeError(f"MetricCollection: {name!r} is a {type(metric).__name__}, not a Metric")
            if not isinstance(name, str) or not name or "." in name:
                raise InputError(f"MetricCollection: names must be non-empty strings without '.', got {name!r}")
            if name in self._metrics:
                raise InputError(f"MetricCollection: two metrics are named {name!r}")
            self._metrics[name] = metric

    def __getitem__(self, name: str) -> Metric:
        return self._metrics[name]

    def __iter__(self):
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def update(self, *args, **kwargs) -> None:
        """Add one batch to every metric (all validate it first)."""
        stats = [metric._batch_state(*args, **kwargs) for metric in self._metrics.values()]
        for metric, batch in zip(self._metrics.values(), stats, strict=True):
            metric._add(batch)

    def compute(self) -> dict:
        """``{name: metric.compute()}``."""
        return {name: metric.compute() for name, metric in self._metrics.items()}

    def reset(self) -> None:
        for metric in self._metrics.values():
            metric.reset()

    def merge(self, other: MetricCollection) -> MetricCollection:
        """Merge each metric with the one of the same name in ``other`` (same names required); returns ``self``."""
        if not isinstance(other, MetricCollection):
            raise InputTypeError(f"MetricCollection.merge: expected a MetricCollection, got {type(other).__name__}")
        if set(other) != set(self):
            raise InputError(f"MetricCollection.merge: metric names differ ({list(self)} vs {list(other)})")
        for name, metric in self._metrics.items():  # check every pair before changing any
            if type(other[name]) is not type(metric) or other[name]._config() != metric._config():
                raise InputError(f"MetricCollection.merge: {name!r} is {other[name]!r} in the other collection, "
                                 f"{metric!r} here")
        for name, metric in self._metrics.items():
            metric.merge(other[name])
        return self

    @property
    def state(self) -> Mapping[str, np.ndarray]:
        """Every metric's live state arrays, keyed ``"<name>.<key>"``."""
        return MappingProxyType({f"{name}.{key}": array for name, metric in self._metrics.items()
                                 for key, array in metric._state.items()})

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"{name}.{key}": array for name, metric in self._metrics.items()
                for key, array in metric.state_dict().items()}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Load a flat state dict as :meth:`state_dict` returns it; all metrics or none are changed."""
        where = "MetricCollection.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise StateDictError(f"{where}: expected a mapping, got {type(state_dict).__name__}")
        parts: dict[str, dict] = {name: {} for name in self._metrics}
        unexpected = []
        for key, value in state_dict.items():
            name, _, sub = str(key).partition(".")
            if name in parts and sub:
                parts[name][sub] = value
            else:
                unexpected.append(key)
        if unexpected:
            raise StateDictError(f"{where}: unexpected keys {sorted(map(str, unexpected))}")
        checked = {name: metric._checked_state(parts[name], f"{where}: {name!r}")
                   for name, metric in self._metrics.items()}
        for name, metric in self._metrics.items():
            metric._assign(checked[name])

    def __repr__(self) -> str:
        return "MetricCollection({" + ", ".join(f"{k!r}: {v!r}" for k, v in self._metrics.items()) + "})"
