"""Suite-wide: tests run on one torch thread (their tensors are small; on a shared 2-CPU machine a
second thread only adds contention) and restore the setting afterwards."""

import pytest

from infwidth.device import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield
