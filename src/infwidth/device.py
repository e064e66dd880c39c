"""Device and dtype selection: use a GPU when one is present, never assume the CPU."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from infwidth.errors import UserError


def default_device() -> torch.device:
    """The fastest available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> torch.device:
    """``None`` or ``"auto"`` picks :func:`default_device`; anything else is passed to torch.

    With ``dtype=torch.float64``, "auto" avoids Apple MPS (it has no float64) and falls back to the CPU.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        dev = default_device()
        if dev.type == "mps" and dtype == torch.float64:
            return torch.device("cpu")
        return dev
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` intra-op torch threads (None: leave as is), restoring afterwards.

    Many small tensor ops (sparse Word2Vec steps, tiny limit recursions, coordinate checks) run
    faster on one thread than on two contended ones.
    """
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
