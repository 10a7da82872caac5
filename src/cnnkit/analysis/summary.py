"""Model summary: a torchinfo/Keras-style table of layers, shapes, parameters, MACs and receptive fields.

``summary(model, input_size)`` runs one forward pass under ``no_grad`` on zeros, with forward hooks on every
module, and returns a :class:`ModelSummary` (rows + totals, plain dataclasses) whose ``str()`` is the table and
whose ``to_json()`` / ``from_json()`` round-trip the same numbers.

The layers describe themselves: for each call of a leaf module (one without children) the summary asks
``module.geometry(call)`` (:mod:`cnnkit.nn.geometry`) for the call's MACs, its receptive-field window and the
workspace its kernels allocate, so a new layer, or a user's own, is summarised by saying what it does, without
touching this file. Counting conventions (also printed under the table):

* MACs (multiply-accumulates) are what the layers report: convolutions ``kH*kW*(C_in/groups)*C_out*H_out*W_out*N``,
  transposed convolutions ``kH*kW*(C_out/groups)*C_in*H_in*W_in*N``, linear layers ``in*out*(product of the leading
  output dims)``. Biases, normalisation, activations and pooling are not counted. FLOPs = 2 x MACs.
* Leaves are counted once per call; a container's row shows the sum over the calls made inside it, and the totals
  add leaves only, so nesting never double counts. Parameter totals count each distinct parameter once, including
  those of modules that the forward pass did not use.
* Receptive field ``rf`` and ``jump`` (distance in input pixels between neighbouring outputs) start at (1, 1) on
  the input and go through every layer's window (``window.receptive_field``, with
  ``conv_arith.receptive_field_step``): convolutions and pools step by their kernel, stride and dilation,
  adaptive pools by their widest bin with stride floor(in/out), transposed convolutions and upsampling divide the
  jump. Layers without a window pass their input's values on. A layer's input values are those of the tensor it
  receives; a tensor created outside a module (a residual sum, a concatenation) gets the maximum rf and the maximum
  jump over everything computed so far inside the enclosing module on the same grid (spatial size), so branching
  networks take the max over their branches, and a decoder's concatenation of an upsampled map with an encoder's
  skip has the jump of that resolution, not the bottleneck's; one on a grid nothing else has (a crop, as FCN's)
  gets the values of the latest output.
* Memory: forward activations add the outputs of every leaf call. The workspace is the scratch the layers'
  kernels allocate, as they allocate it: a convolution's im2col rows buffers, one per thread, each holding one
  batch chunk of about ``kernels.conv.COLUMN_BUDGET_BYTES`` (none for a 1x1 or depthwise convolution), computed by
  ``kernels.conv.conv2d_workspace_bytes`` for ``num_threads`` threads. The im2col matrix if unchunked,
  ``(C_in*kH*kW) x (H_out*W_out) x N`` elements (``(C_out*kH*kW) x (H_in*W_in) x N`` for the column matrix of a
  transposed convolution), is kept beside it as a separate figure for teaching.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..errors import InputError, InputTypeError
from ..kernels import _parallel
from ..nn.geometry import LayerCall, LayerGeometry
from .formulas import explain as _explain

__all__ = ["LayerRow", "SummaryTotals", "ModelSummary", "summary", "FLOPS_PER_MAC"]

FLOPS_PER_MAC = 2

_CONVENTION = ("MACs: conv, transposed conv and linear layers (one multiply-add each); FLOPs = 2 x MACs. "
               "Receptive field (RF) and jump in input pixels; branches take the max.")


# ----------------------------------------------------------------------------------------------- data
@dataclass
class LayerRow:
    """One module call. ``params`` is the module's own parameters for a leaf and its whole subtree for a
    container; ``macs`` likewise (summed over the calls inside a container). ``receptive_field`` and ``jump``
    are (H, W) pairs, None when the output is not a 4-D feature map. ``workspace_bytes`` is what the kernels
    really allocate for the call; ``im2col_matrix_bytes`` the full im2col matrix, never allocated whole (leaves
    only)."""

    name: str
    type: str
    depth: int
    index: int
    is_leaf: bool
    input_shape: tuple | None
    output_shape: tuple | None
    params: int
    trainable_params: int
    macs: int
    output_bytes: int
    workspace_bytes: int = 0  # scratch the layer's kernels allocate (a conv: its im2col buffers, as chunked)
    im2col_matrix_bytes: int = 0  # a conv's im2col matrix if it were not chunked
    im2col_matrix_shape: tuple | None = None  # (C_in*kH*kW, H_out*W_out, N) for a conv
    receptive_field: tuple | None = None
    jump: tuple | None = None
    explain: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``Type (name): depth-index`` as shown in the table."""
        if self.depth == 0:
            return self.type
        local = self.name.rsplit(".", 1)[-1]
        return f"{self.type} ({local}): {self.depth}-{self.index}"


@dataclass
class SummaryTotals:
    """Whole-model numbers (each leaf and each parameter counted once)."""

    total_params: int
    trainable_params: int
    non_trainable_params: int
    total_macs: int
    total_flops: int
    param_bytes: int
    buffer_bytes: int
    input_bytes: int
    activation_bytes: int
    largest_workspace_bytes: int  # the largest workspace one layer call allocates (im2col buffers as chunked)
    largest_workspace_layer: str
    largest_im2col_matrix_bytes: int  # the largest im2col matrix if it were not chunked (never allocated whole)
    largest_im2col_matrix_layer: str
    largest_im2col_matrix_shape: tuple | None


@dataclass
class ModelSummary:
    """The result of :func:`summary`: every row (all depths) plus the totals. ``str()`` shows rows down to
    ``depth``; ``explain`` adds the per-layer formulas."""

    model: str
    input_size: tuple
    dtype: str
    depth: int
    explain: bool
    num_threads: int  # the kernels' thread count the workspace figures assume
    rows: list[LayerRow]
    totals: SummaryTotals

    # -------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        """Plain dict (lists instead of tuples), ready for ``json.dumps``."""
        return _listify(asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text; :meth:`from_json` rebuilds an equal object."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSummary:
        """Rebuild from :meth:`to_dict` output (tuples restored)."""
        if not isinstance(data, dict):
            raise InputTypeError(f"ModelSummary.from_dict: expected a dict, got {type(data).__name__}")
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise InputError(f"ModelSummary.from_dict: missing field(s) {missing}")
        rows = [_build(LayerRow, row) for row in data["rows"]]
        totals = _build(SummaryTotals, data["totals"])
        return cls(model=data["model"], input_size=_tuplify(data["input_size"]), dtype=data["dtype"],
                   depth=int(data["depth"]), explain=bool(data["explain"]), num_threads=int(data["num_threads"]),
                   rows=rows, totals=totals)

    @classmethod
    def from_json(cls, text: str) -> ModelSummary:
        """Rebuild from :meth:`to_json` text."""
        return cls.from_dict(json.loads(text))

    # -------------------------------------------------------------- text
    def format_table(self, depth: int | None = None, explain: bool | None = None) -> str:
        """The table (rows down to ``depth``), the totals and, with ``explain``, the per-layer formulas."""
        depth = self.depth if depth is None else depth
        explain = self.explain if explain is None else explain
        return _format(self, depth, explain)

    def __str__(self) -> str:
        return self.format_table()


def _listify(obj):
    if isinstance(obj, dict):
        return {k: _listify(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_listify(v) for v in obj]
    return obj


def _tuplify(obj):
    if isinstance(obj, (list, tuple)):
        return tuple(_tuplify(v) for v in obj)
    return obj


def _build(cls, data: dict):
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise InputError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    kwargs = {}
    for key, value in data.items():
        if key == "explain" and cls is LayerRow:
            kwargs[key] = list(value)
        else:
            kwargs[key] = _tuplify(value) if isinstance(value, list) else value
    return cls(**kwargs)


# ----------------------------------------------------------------------------------------------- tracing
def _tensors(obj) -> list[Tensor]:
    """Every Tensor in a (nested) forward argument or output, in order."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


def _shape_of(tensors: list[Tensor]):
    if not tensors:
        return None
    if len(tensors) == 1:
        return tuple(int(n) for n in tensors[0].shape)
    return tuple(tuple(int(n) for n in t.shape) for t in tensors)


def _max_state(states):
    """Component-wise max over (rf, jump) states, each an ((rf_h, rf_w), (jump_h, jump_w)) pair."""
    rf = tuple(max(s[0][i] for s in states) for i in range(2))
    jump = tuple(max(s[1][i] for s in states) for i in range(2))
    return rf, jump


def _grid(tensor) -> tuple | None:
    """The spatial size (H, W) of an image batch (N, C, H, W); None for other tensors."""
    return tuple(tensor.shape[2:]) if tensor.ndim == 4 else None


class _Frame:
    __slots__ = ("module", "row", "in_state", "scope", "children", "macs")

    def __init__(self, module, row, in_state, in_grid):
        self.module = module
        self.row = row
        self.in_state = in_state
        self.scope = [(in_state, in_grid)]  # (state, output grid) of what this call produced (and of its input)
        self.children = 0
        self.macs = 0


class _GeometryError(RuntimeError):
    """A layer's ``geometry()`` failed or answered something else than a LayerGeometry (a bug in the layer)."""


class _Tracer:
    """Hooks that fill the rows while the model runs."""

    def __init__(self, model, explain: bool, dtype: np.dtype, num_threads: int):
        self.model = model
        self.explain = explain
        self.dtype = dtype
        self.num_threads = num_threads
        self.names = {id(m): name for name, m in model.named_modules()}
        self.rows: list[LayerRow] = []
        self.stack: list[_Frame] = []
        self.states: dict[int, tuple] = {}  # id(tensor) -> (weakref, state)
        self.root_children = 0

    # -------------------------------------------------------------- tensor states
    def _remember(self, tensor: Tensor, state) -> None:
        key = id(tensor)
        states = self.states

        def forget(_ref, key=key):
            entry = states.get(key)
            if entry is not None and entry[0]() is None:
                del states[key]

        states[key] = (weakref.ref(tensor, forget), state)

    def _lookup(self, tensor: Tensor):
        entry = self.states.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return entry[1]
        return None

    def _scope_states(self, frame, tensors) -> list:
        """The states in ``frame``'s scope for tensors made outside a module: those produced inside the call on the
        same grid (spatial size) as the tensors, so that a concatenation in a decoder takes its branches' values, not
        the coarser bottleneck's; when none matches (a crop, a reshape), the latest state produced."""
        grids = {_grid(t) for t in tensors} - {None}
        same = [state for state, grid in frame.scope[1:] if grid in grids]
        return same or [frame.scope[-1][0]]

    def _input_state(self, tensors):
        known, unknown = [], []
        for t in tensors:
            state = self._lookup(t)
            if state is None:
                unknown.append(t)
            else:
                known.append(state)
        if unknown or not known:
            if self.stack:
                known.extend(self._scope_states(self.stack[-1], unknown or tensors))
            else:
                known.append(((1, 1), (1, 1)))
        return _max_state(known)

    # -------------------------------------------------------------- hooks
    def pre_hook(self, module, args):
        tensors = _tensors(args)
        in_state = self._input_state(tensors)
        depth = len(self.stack)
        if self.stack:
            parent = self.stack[-1]
            parent.children += 1
            index = parent.children
        else:
            index = 1
        params = sum(p.data.size for p in module.parameters())
        trainable = sum(p.data.size for p in module.parameters() if p.requires_grad)
        row = LayerRow(name=self.names.get(id(module), "?"), type=type(module).__name__, depth=depth, index=index,
                       is_leaf=not any(True for _ in module.children()), input_shape=_shape_of(tensors),
                       output_shape=None, params=params, trainable_params=trainable, macs=0, output_bytes=0)
        self.rows.append(row)
        self.stack.append(_Frame(module, row, in_state, _grid(tensors[0]) if tensors else None))

    def hook(self, module, args, output):
        frame = self.stack.pop()
        row = frame.row
        outs = _tensors(output)
        row.output_shape = _shape_of(outs)
        in_tensors = _tensors(args)
        if row.is_leaf:
            row.output_bytes = sum(t.data.nbytes for t in outs)
            out_state = self._leaf(module, row, in_tensors, outs, frame.in_state)
            frame.macs = row.macs
        else:
            row.macs = frame.macs
            known = [self._lookup(t) for t in outs]
            if outs and all(s is not None for s in known):
                out_state = _max_state(known)
            else:
                out_state = _max_state(self._scope_states(frame, outs))
        for t in outs:
            self._remember(t, out_state)
        if outs and all(t.ndim == 4 for t in outs):
            row.receptive_field, row.jump = out_state
        if self.stack:
            parent = self.stack[-1]
            parent.scope.append((out_state, _grid(outs[0]) if outs else None))
            parent.macs += frame.macs

    # -------------------------------------------------------------- leaves
    def _leaf(self, module, row, ins, outs, state):
        """Ask the module for its geometry in this call; fill the row; return the output's (rf, jump)."""
        x = ins[0] if ins else None
        y = outs[0] if outs else None
        call = LayerCall(tuple(tuple(int(n) for n in t.shape) for t in ins),
                         tuple(tuple(int(n) for n in t.shape) for t in outs),
                         dtype=x.data.dtype if x is not None else self.dtype, num_threads=self.num_threads)
        try:
            geo = module.geometry(call)
        except Exception as err:
            raise _GeometryError(f"summary: {type(module).__name__}.geometry() failed for a call with input "
                                 f"{row.input_shape} and output {row.output_shape}: {err}") from err
        if not isinstance(geo, LayerGeometry):
            raise _GeometryError(f"summary: {type(module).__name__}.geometry() must return an nn.LayerGeometry, "
                                 f"got {type(geo).__name__}")
        row.macs = int(geo.macs)
        row.workspace_bytes = int(geo.workspace_bytes)
        if geo.im2col_matrix is not None:
            row.im2col_matrix_shape = tuple(int(n) for n in geo.im2col_matrix)
            row.im2col_matrix_bytes = int(np.prod(row.im2col_matrix_shape, dtype=np.int64)) * call.itemsize
        spatial = x is not None and x.ndim == 4 and y is not None and y.ndim == 4
        if self.explain and geo.explain:
            row.explain = _explain(geo, x.shape[2:] if spatial else None, y.shape[2:] if spatial else None)
        if geo.window is None or not spatial:
            return state
        rf, jump = geo.window.receptive_field(*state)
        return tuple(rf), tuple(jump)


# ----------------------------------------------------------------------------------------------- entry point
def summary(model, input_size, depth: int = 3, dtype=np.float32, explain: bool = False,
            num_threads: int | None = None) -> ModelSummary:
    """Summarise ``model`` on a zero input of shape ``input_size`` (batch first, e.g. (1, 3, 224, 224)).

    Runs one forward pass under ``no_grad`` in eval mode (each module's train/eval flag is restored after, so
    BatchNorm running statistics are not touched) and returns a :class:`ModelSummary`; ``print()`` it for the
    table. ``depth`` is how many nesting levels the table shows (the totals always include every layer);
    ``explain=True`` records each conv/pool layer's output-size and parameter formulas. ``num_threads`` is the
    thread count the workspace figures assume (default: the kernels' current one, ``get_num_threads()``).
    """
    if not isinstance(model, nn.Module):
        raise InputTypeError(f"summary: expected a cnnkit.nn.Module, got {type(model).__name__}")
    if isinstance(input_size, int) or not hasattr(input_size, "__len__") or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in input_size):
        raise InputError(f"summary: input_size must be a tuple of positive ints with the batch first, e.g. "
                         f"(1, 3, 224, 224), got {input_size!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise InputError(f"summary: depth must be a non-negative int, got {depth!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise InputTypeError(f"summary: unknown dtype {dtype!r}") from err
    if dtype.kind != "f":
        raise InputTypeError(f"summary: dtype must be a floating-point type, got {dtype}")
    input_size = tuple(int(n) for n in input_size)
    if num_threads is None:
        num_threads = _parallel.get_num_threads()
    elif isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 1:
        raise InputError(f"summary: num_threads must be a positive int, got {num_threads!r}")
    num_threads = int(num_threads)

    tracer = _Tracer(model, explain, dtype, num_threads)
    handles = []
    for _, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(tracer.pre_hook))
        handles.append(module.register_forward_hook(tracer.hook))
    modes = [(m, m.training) for m in model.modules()]
    x = Tensor(np.zeros(input_size, dtype=dtype))
    tracer._remember(x, ((1, 1), (1, 1)))
    try:
        model.eval()
        with no_grad():
            model(x)
    except _GeometryError:
        raise
    except Exception as err:
        # an input the model cannot take is the user's problem; anything else stays a bug (RuntimeError)
        kind = InputError if isinstance(err, InputError) else RuntimeError
        raise kind(f"summary: the forward pass of {type(model).__name__} on a {dtype} input of shape "
                   f"{input_size} failed: {err}") from err
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    rows = tracer.rows
    params = list(model.parameters())
    leaves = [r for r in rows if r.is_leaf]
    workspace = _largest(leaves, "workspace_bytes")
    matrix = _largest(leaves, "im2col_matrix_bytes")
    total_macs = sum(r.macs for r in leaves)
    totals = SummaryTotals(
        total_params=sum(p.data.size for p in params),
        trainable_params=sum(p.data.size for p in params if p.requires_grad),
        non_trainable_params=sum(p.data.size for p in params if not p.requires_grad),
        total_macs=total_macs,
        total_flops=FLOPS_PER_MAC * total_macs,
        param_bytes=sum(p.data.nbytes for p in params),
        buffer_bytes=sum(b.data.nbytes for b in model.buffers()),
        input_bytes=int(x.data.nbytes),
        activation_bytes=sum(r.output_bytes for r in leaves),
        largest_workspace_bytes=workspace.workspace_bytes if workspace else 0,
        largest_workspace_layer=workspace.name if workspace else "",
        largest_im2col_matrix_bytes=matrix.im2col_matrix_bytes if matrix else 0,
        largest_im2col_matrix_layer=matrix.name if matrix else "",
        largest_im2col_matrix_shape=matrix.im2col_matrix_shape if matrix else None,
    )
    return ModelSummary(model=type(model).__name__, input_size=input_size, dtype=str(dtype), depth=depth,
                        explain=explain, num_threads=num_threads, rows=rows, totals=totals)


def _largest(rows: list[LayerRow], what: str) -> LayerRow | None:
    """The first row with the largest positive ``what`` (None if none has any)."""
    best = max(rows, key=lambda r: getattr(r, what), default=None)
    return best if best is not None and getattr(best, what) > 0 else None


# ----------------------------------------------------------------------------------------------- text
def _si(n: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def _mb(n: int) -> str:
    if n >= 2 ** 30:
        return f"{n / 2 ** 30:.2f} GiB"
    if n >= 2 ** 20:
        return f"{n / 2 ** 20:.2f} MiB"
    return f"{n / 2 ** 10:.2f} KiB"


def _fmt_pair(value) -> str:
    if value is None:
        return "-"
    a, b = value

    def text(v) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    return text(a) if a == b else f"{text(a)}x{text(b)}"


def _fmt_shape(shape) -> str:
    if shape is None:
        return "-"
    if shape and isinstance(shape[0], tuple):
        return " ".join(_fmt_shape(s) for s in shape)
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _format(s: ModelSummary, depth: int, explain: bool) -> str:
    rows = [r for r in s.rows if r.depth <= depth]
    header = ("Layer (type (name): depth-idx)", "Output shape", "Param #", "MACs", "RF", "Jump")
    body = []
    for r in rows:
        indent = "" if r.depth == 0 else "  " * (r.depth - 1) + ("├─" if r.depth else "")
        body.append((indent + r.label, _fmt_shape(r.output_shape), f"{r.params:,}" if r.params else "--",
                     f"{r.macs:,}" if r.macs else "--", _fmt_pair(r.receptive_field), _fmt_pair(r.jump)))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def line(cells):
        left = cells[0].ljust(widths[0])
        return "  ".join([left, cells[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(cells[2:], widths[2:],
                                                                                        strict=True)])

    rule_len = sum(widths) + 2 * (len(widths) - 1)
    out = [f"{s.model} summary: input {list(s.input_size)} {s.dtype}", "=" * rule_len, line(header), "=" * rule_len]
    out += [line(b) for b in body]
    t = s.totals
    out += ["=" * rule_len,
            f"Total params: {t.total_params:,}",
            f"Trainable params: {t.trainable_params:,}",
            f"Non-trainable params: {t.non_trainable_params:,}",
            f"Total MACs: {t.total_macs:,} ({_si(t.total_macs)})",
            f"Total FLOPs (2 x MACs): {t.total_flops:,} ({_si(t.total_flops)})",
            "-" * rule_len,
            f"Input size: {_mb(t.input_bytes)}",
            f"Forward activation memory: {_mb(t.activation_bytes)}",
            f"Parameter memory: {_mb(t.param_bytes)} (+ buffers {_mb(t.buffer_bytes)})"]
    threads = f"{s.num_threads} thread{'s' if s.num_threads != 1 else ''}"
    if t.largest_workspace_bytes:
        out.append(f"Largest im2col buffer as allocated (workspace: reference kernels, batch chunks on {threads}): "
                   f"{_mb(t.largest_workspace_bytes)} ({t.largest_workspace_layer or s.model})")
    else:
        why = "1x1 and depthwise convolutions need none" if t.largest_im2col_matrix_bytes else "no convolutions"
        out.append(f"Largest im2col buffer as allocated: none ({why})")
    if t.largest_im2col_matrix_bytes:
        k, cols, n = t.largest_im2col_matrix_shape
        out.append(f"Largest im2col matrix if unchunked: {_mb(t.largest_im2col_matrix_bytes)} "
                   f"({t.largest_im2col_matrix_layer or s.model}: {k} x {cols} x {n} elements)")
    out += ["-" * rule_len, _CONVENTION]
    if explain:
        lines = [r for r in s.rows if r.explain]
        if lines:
            out += ["", "Formulas (output size per axis; conv params = kH*kW*(C_in/groups)*C_out + bias):"]
            for r in lines:
                out.append(f"{r.name or r.type} ({r.type}):")
                out += [f"    {e}" for e in r.explain]
    return "\n".join(out)
