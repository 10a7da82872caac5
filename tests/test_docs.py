"""Every docs page's Python code runs, and prints what the page shows under it (see docs_blocks.py for the
convention and the comparison)."""

from pathlib import Path

import pytest
from docs_blocks import blocks, run_page, same_output

import cnnkit as ck

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if blocks(p.read_text()))


def test_the_guided_pages_have_runnable_code():
    names = {p.name for p in PAGES}
    assert {"convolution.md", "backpropagation.md", "optimization.md", "architectures.md", "dense-prediction.md",
            "detection.md", "seeing-inside.md", "segmentation-workflow.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_code_runs_and_prints_what_is_shown(page, tmp_path):
    # The shown outputs were printed on the reference kernels. A page that trains a model prints numbers a float
    # rounding can move by a last digit (99.2% vs 99.4%), and other backends round differently; their agreement with
    # the reference is what the per-backend parity tests check.
    with ck.set_backend("numpy"):
        results = list(run_page(page, tmp_path))
    for i, (_code, shown, printed) in enumerate(results):
        if shown is not None:
            assert same_output(shown, printed), f"{page.name} block {i + 1} printed:\n{printed}\nbut shows:\n{shown}"


def test_the_comparison_tolerates_only_tiny_number_differences():
    assert same_output("loss 0.12345 after 3 steps\n", "loss 0.123451 after 3 steps")
    assert not same_output("loss 0.12345", "loss 0.1250")
    assert not same_output("accuracy 97%", "accuracy 97 %")
    assert not same_output("a\nb", "a")
