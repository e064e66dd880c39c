"""Reproducible runs: seeds, atomic files, run records (config, versions, results), resumable out dirs.

Every long job writes ``run.json`` into its output directory holding the config it was started
with, the library versions and (once finished) its results. Checkpoints are written atomically
(temp file + ``os.replace``) so a kill never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from infwidth.errors import UserError

RUN_FILE = "run.json"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the libraries a result depends on."""
    import numpy as np
    import scipy
    import torch

    from infwidth import __version__

    return {
        "infwidth": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def jsonable(obj: Any) -> Any:
    """Convert Fractions, paths, numpy/torch values (and containers of them) to JSON-ready Python."""
    from fractions import Fraction

    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Fraction):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temp file beside ``path`` for binary writing; on success it atomically replaces ``path``.

    Readers see the old file or the new one, never a mix; on error the temp file is removed. Writers
    stream into it, so a multi-GB checkpoint is never held twice in memory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as fh:
        fh.write(data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (Fractions, paths and arrays converted)."""
    atomic_write_bytes(path, (json.dumps(jsonable(obj), indent=2) + "\n").encode())


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """Atomically ``torch.save`` a checkpoint, streaming to disk."""
    import torch

    with atomic_file(path) as fh:
        torch.save(obj, fh)


def prepare_out_dir(
    out: str | Path,
    config: Mapping[str, Any],
    *,
    resume: bool = False,
    overwrite: bool = False,
) -> tuple[Path, bool]:
    """Create ``out`` for a run with ``config``; returns ``(path, resuming)``.

    An existing directory holding a run with a *different* config is refused unless
    ``overwrite``; one with the same config is resumed only when ``resume`` is set.
    Nothing is deleted here: overwriting replaces files as the new run writes them.
    """
    out = Path(out)
    record = out / RUN_FILE
    config = jsonable(config)
    if record.exists():
        try:
            old = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{record} is unreadable ({exc}); pass `overwrite=True` to start afresh") from None
        same = old.get("config") == config
        if resume and same:
            return out, True
        if resume and not same:
            raise UserError(
                f"{out} holds a run with a different config; use another `out`, or `overwrite=True` to replace it"
            )
        if not overwrite:
            raise UserError(
                f"{out} already holds a run; pass `resume=True` to continue it or `overwrite=True` to replace it"
            )
    elif resume:
        raise UserError(f"nothing to resume in {out} (no {RUN_FILE}); drop `resume` to start a new run")
    out.mkdir(parents=True, exist_ok=True)
    write_run_record(out, config, status="running")
    return out, False


def write_run_record(
    out: str | Path,
    config: Mapping[str, Any],
    *,
    results: Mapping[str, Any] | None = None,
    status: str = "finished",
) -> Path:
    """Write ``run.json``: config, versions, status, time and (optionally) results."""
    path = Path(out) / RUN_FILE
    record = {
        "config": jsonable(config),
        "versions": versions(),
        "status": status,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if results is not None:
        record["results"] = jsonable(results)
    atomic_write_json(path, record)
    return path
