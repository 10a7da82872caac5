"""The summary's formulas written out with a layer's own numbers, e.g. '(224 + 2*3 - 7) // 2 + 1 = 112'.

Layers describe themselves in numbers (:mod:`cnnkit.nn.geometry`); the sizes come from
:mod:`cnnkit.kernels.conv_arith`; the words are here. :func:`explain` turns one call's
:class:`~cnnkit.nn.LayerGeometry` into the lines ``summary(..., explain=True)`` shows: the output size per axis
(for the window kinds it knows how to write out) and how the parameter count is made up.
"""

from __future__ import annotations

from ..kernels.conv_arith import conv_output_size, conv_transpose_output_size
from ..nn.geometry import AdaptiveWindow, LayerGeometry, ParamCount, TransposedWindow, Window

__all__ = ["output_size_formula", "transposed_size_formula", "params_formula", "explain"]


def output_size_formula(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                        ceil_mode: bool = False) -> str:
    """The output-size formula of a convolution or pooling window along one axis, e.g.
    '(224 + 2*3 - 7) // 2 + 1 = 112' ('ceil((...) / s) + 1' in ceil mode)."""
    out = conv_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    k = f"{dilation}*({kernel} - 1) - 1" if dilation != 1 else f"{kernel}"
    if ceil_mode:
        return f"ceil(({size} + 2*{padding} - {k}) / {stride}) + 1 = {out}"
    return f"({size} + 2*{padding} - {k}) // {stride} + 1 = {out}"


def transposed_size_formula(size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                            dilation: int = 1) -> str:
    """The output-size formula of a transposed convolution along one axis, e.g.
    '(7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14'."""
    out = conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation)
    return f"({size} - 1)*{stride} - 2*{padding} + {dilation}*({kernel} - 1) + {output_padding} + 1 = {out}"


def params_formula(params: ParamCount) -> str:
    """'params: 7*7*3*64 + 0 = 9408', 'params: 2*64 = 128' or 'params: 0'."""
    if not params.factors:
        return f"params: {params.bias or 0}"
    text = "*".join(str(f) for f in params.factors)
    if params.bias is not None:
        text += f" + {params.bias}"
    return f"params: {text} = {params.total}"


def _axes(line_h: str, line_w: str) -> list[str]:
    return [f"H, W: {line_h}"] if line_h == line_w else [f"H: {line_h}", f"W: {line_w}"]


def _checked(text: str, expected: int, produced: int) -> str:
    # the layer's window and the op it ran should agree; say so where they do not
    return text if expected == produced else f"{text} (the layer produced {produced})"


def _window_lines(w: Window, in_hw, out_hw) -> list[str]:
    expected = w.output_size(in_hw)
    lines = []
    for i in range(2):
        (before, after), size, out = w.padding[i], int(in_hw[i]), int(out_hw[i])
        k, s, d = w.kernel[i], w.stride[i], w.dilation[i]
        if before == after:
            text = output_size_formula(size, k, s, before, d, w.ceil_mode)
        elif s == 1 and expected[i] == size:
            text = f"'same' padding ({before} before, {after} after) keeps the size: {size} -> {expected[i]}"
        else:
            text = f"({size} + {before} + {after} - {k if d == 1 else f'{d}*({k} - 1) - 1'}) // {s} + 1 = {expected[i]}"
        lines.append(_checked(text, expected[i], out))
    return _axes(*lines)


def _transposed_lines(w: TransposedWindow, in_hw, out_hw) -> list[str]:
    expected = w.output_size(in_hw)
    return _axes(*(_checked(transposed_size_formula(int(in_hw[i]), w.kernel[i], w.stride[i], w.padding[i],
                                                    w.output_padding[i], w.dilation[i]), expected[i], int(out_hw[i]))
                   for i in range(2)))


def _adaptive_lines(w: AdaptiveWindow, in_hw, out_hw) -> list[str]:
    return [f"{axis}: adaptive {int(in_hw[i])} -> {int(out_hw[i])} (widest window {w.windows[i][0]}, "
            f"stride {w.windows[i][1]})" for i, axis in enumerate("HW")]


# the window kinds whose output size can be written out; others (Resize, a user's own) get no size line
_WINDOW_TEXT = {Window: _window_lines, TransposedWindow: _transposed_lines, AdaptiveWindow: _adaptive_lines}


def explain(geometry: LayerGeometry, in_hw=None, out_hw=None) -> list[str]:
    """The explanation lines of one layer call: its window's output size per axis (when ``in_hw`` and ``out_hw``,
    the spatial sizes the call received and returned, are given) and its parameter formula."""
    lines = []
    window = geometry.window
    if window is not None and in_hw is not None and out_hw is not None:
        for kind in type(window).__mro__:
            if kind in _WINDOW_TEXT:
                lines += _WINDOW_TEXT[kind](window, in_hw, out_hw)
                break
    if geometry.params is not None:
        lines.append(params_formula(geometry.params))
    return lines
