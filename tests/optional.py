"""Optional packages in tests: a test that needs one skips where it is missing on a developer's machine, but CI
installs every optional package (the ``test`` extra), so there a missing one fails loudly instead of skipping."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest


def require(module: str):
    """Import ``module``; skip the calling test module when it is missing, except under CI (``CI`` set)."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def mpiexec() -> str:
    """The mpiexec beside this Python (the MPICH wheel installs it there), else the one on PATH."""
    require("mpi4py")
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("mpiexec not found although mpi4py is installed")
        pytest.skip("mpiexec not found")
    return found
