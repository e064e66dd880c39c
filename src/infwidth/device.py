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
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    check_available(dev)
    return dev


def check_available(dev: torch.device) -> None:
    """A one-line :class:`UserError` unless torch can run on ``dev`` here (before any work is done)."""
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device {str(dev)!r} is not available: torch sees no CUDA GPU on this machine; "
                            "use device auto or cpu")
        if dev.index is not None and dev.index >= count:
            raise UserError(f"device {str(dev)!r} is not available: this machine has {count} CUDA GPU(s), "
                            f"cuda:0..cuda:{count - 1}; pick one of those or auto")
        return
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError("device 'mps' is not available on this machine; use device auto or cpu")
        return
    raise UserError(f"device {str(dev)!r} is not supported by infwidth; use auto, cpu, cuda, cuda:N or mps")


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


# Default torch CPU threads per kind of work (the CLI's --threads default), chosen from measurements
# (docs/kernels.md, "Threads"). Kernels: every core. On a busy 2-vCPU machine, OpenMP threads that
# spin while waiting made two threads 5-11x slower than one, but with sleeping waiters
# (OMP_WAIT_POLICY=PASSIVE, which the CLI sets before torch loads) two threads beat one in 15 of 18
# cases (up to 4.2x), and on an idle machine they were 1.5-2x faster. With spinning waiters forced (OMP_WAIT_POLICY=ACTIVE)
# a busy machine gets one thread. Many-small-op work (coordinate checks, limits, Word2Vec's sparse
# steps) stays on one thread.
SMALL_WORK_THREADS = 1
MAML_THREADS = None  # torch's default: its width-n matmuls are larger


def machine_is_busy() -> bool:
    """True when other work occupies the CPUs: the 1-minute load average is at least half the cores."""
    import os

    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover - platforms without a load average
        return False
    return load >= 0.5 * (os.cpu_count() or 1)


def kernel_threads() -> int:
    """Threads for kernel work: every core, except one on a busy machine whose OpenMP waiters spin."""
    import os

    cores = os.cpu_count() or 1
    spinning = os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE"
    return 1 if spinning and machine_is_busy() else cores


def memory_bytes(device: torch.device | str | None = None, available: bool = False) -> float:
    """Memory of ``device`` in bytes (0 if unknown): free GPU memory for CUDA; on the CPU the machine's
    physical RAM, or with ``available`` what the kernel reports it can give without swapping
    (``MemAvailable``, falling back to the physical RAM). The one place infwidth reads memory sizes."""
    dev = torch.device("cpu") if device is None else torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(dev)
        return float(free)
    if available:
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return float(int(line.split()[1]) * 1024)
        except (OSError, ValueError, IndexError):
            pass
    import os

    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        return 0.0


def require_memory(nbytes: float, what: str, advice: str, device: torch.device | str | None = None) -> None:
    """A one-line :class:`UserError` when ``what`` needs more than the memory of ``device`` (checked up front)."""
    have = memory_bytes(device)
    if have and nbytes > have:
        raise UserError(f"{what} need about {format_bytes(nbytes)} but this machine has {format_bytes(have)}; {advice}")


def format_bytes(nbytes: float) -> str:
    """A byte count for messages and logs: ``512 B``, ``3.2 KiB``, ``45.0 MiB``, ``2.80 GiB`` (binary
    units), or ``1.2e+16 bytes``."""
    if nbytes >= 2**50:
        return f"{nbytes:.1e} bytes"
    if nbytes >= 2**30:
        return f"{nbytes / 2**30:,.2f} GiB"
    if nbytes >= 2**20:
        return f"{nbytes / 2**20:,.1f} MiB"
    if nbytes >= 2**10:
        return f"{nbytes / 2**10:,.1f} KiB"
    return f"{nbytes:.0f} B"
