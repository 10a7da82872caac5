"""Fixtures for the data tests."""

from __future__ import annotations

import pytest
from data.datahelpers import FileServer


@pytest.fixture
def server():
    s = FileServer()
    try:
        yield s
    finally:
        s.stop()
