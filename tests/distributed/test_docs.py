"""docs/distributed.md: its Python example (a loop of one's own) runs as written, in a world of one process."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "distributed.md"


def test_the_user_loop_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {})
    assert "last loss on rank 0" in capsys.readouterr().out


def test_the_doc_names_what_it_measured():
    text = DOC.read_text()
    for needle in ("8, 64 and 512", "mpiexec -f hosts", "CNNKIT_DIST_TIMEOUT", "--sync-bn", "Allreduce alone"):
        assert needle in text
