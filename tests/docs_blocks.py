"""Run the Python code blocks of a docs page the way its reader would, and compare what they print with the output
shown under them.

Convention of the pages in docs/: a ```python block may be followed directly (after one blank line at most) by a
```text block holding exactly what the block prints. The blocks of one page run in order in one namespace (like
a notebook), in a temporary working folder. The comparison is exact for words and layout; numbers are compared
with a relative tolerance of 1e-3 (absolute 1e-6), so a last-digit difference of floating-point arithmetic on
another machine does not fail the page while any real change does.

Refresh the shown outputs of a page after editing its code: ``python tests/docs_blocks.py docs/PAGE.md --write``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import sys
from pathlib import Path

BLOCK = re.compile(r"```python\n(.*?)```(?:\n\n?```text\n(.*?)```)?", re.S)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def blocks(text: str) -> list[tuple[str, str | None, tuple[int, int] | None]]:
    """(code, shown output or None, span of the shown output in the text) of each python block."""
    out = []
    for m in BLOCK.finditer(text):
        out.append((m.group(1), m.group(2), m.span(2) if m.group(2) is not None else None))
    return out


def run_page(path: Path, workdir: Path) -> list[tuple[str, str | None, str]]:
    """Execute each block of ``path`` in ``workdir``; returns (code, shown, printed) per block."""
    text = Path(path).read_text()
    namespace: dict = {"__name__": "__docs__"}
    results = []
    old = os.getcwd()
    os.chdir(workdir)
    try:
        for i, (code, shown, _) in enumerate(blocks(text)):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"{Path(path).name}[block {i + 1}]", "exec"), namespace)
            results.append((code, shown, buffer.getvalue()))
    finally:
        os.chdir(old)
    return results


def _close(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    return math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-6)


def same_output(shown: str, printed: str) -> bool:
    """Equal text with numbers compared to a relative tolerance of 1e-3 (see the module docstring)."""
    shown_lines = [line.rstrip() for line in shown.strip("\n").splitlines()]
    printed_lines = [line.rstrip() for line in printed.strip("\n").splitlines()]
    if len(shown_lines) != len(printed_lines):
        return False
    for s, p in zip(shown_lines, printed_lines, strict=True):
        if NUMBER.sub("#", s) != NUMBER.sub("#", p):
            return False
        if not all(_close(a, b) for a, b in zip(NUMBER.findall(s), NUMBER.findall(p), strict=True)):
            return False
    return True


def write_outputs(path: Path, workdir: Path) -> None:
    """Rewrite the shown output of every block that has one with what it prints now."""
    text = Path(path).read_text()
    results = run_page(path, workdir)
    pieces, last = [], 0
    for (_, _, span), (_, _, printed) in zip(blocks(text), results, strict=True):
        if span is None:
            continue
        pieces += [text[last:span[0]], printed.rstrip("\n") + "\n"]
        last = span[1]
    Path(path).write_text("".join(pieces) + text[last:])


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    import tempfile

    page = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        if "--write" in sys.argv:
            write_outputs(page, Path(tmp))
        else:
            for _code, _shown, printed in run_page(page, Path(tmp)):
                print(printed, end="")
