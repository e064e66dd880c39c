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


def test_unavailable_devices_are_refused_before_use():
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(UserError, match="not available"):
        resolve_device(f"cuda:{torch.cuda.device_count() + 7}")


def test_kernel_threads_default(monkeypatch):
    import os

    from infwidth import device

    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))  # a busy machine
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert device.kernel_threads() == os.cpu_count()  # sleeping waiters: every core
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert device.kernel_threads() == 1  # spinning waiters on a busy machine: one thread
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert device.kernel_threads() == os.cpu_count()
