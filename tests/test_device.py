"""Device selection: 'auto', explicit devices, one-line errors, the thread context."""

import pytest
import torch

from infwidth.device import resolve_device, torch_threads
from infwidth.errors import UserError


def test_auto_and_explicit():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    assert resolve_device(None, dtype=torch.float64).type != "mps"


def test_unknown_device_is_one_line_error():
    with pytest.raises(UserError, match="unknown device 'foo'"):
        resolve_device("foo")


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
