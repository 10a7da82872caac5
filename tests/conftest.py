import numpy as np
import pytest

import cnnkit as ck


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global seed."""
    ck.manual_seed(0)
    np.random.seed(0)
    yield
