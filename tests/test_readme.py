"""The README's example runs and learns, and its set-up commands match CI."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_trains():
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Train a small CNN.*?```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["loss"].item() < 0.5 and namespace["accuracy"] >= 0.9


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"python -m pytest[^\n`]*", ci).group(0).strip()
    assert command in readme
