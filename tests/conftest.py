import numpy as np
import pytest

import cnnkit as ck


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global seed."""
    ck.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def backend(request):
    """Run the test on the kernel backend its parameter names (``oracle.per_backend`` parametrizes it)."""
    with ck.set_backend(request.param):
        yield request.param
