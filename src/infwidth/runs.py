"""Reproducible runs: seeds, atomic files, run records (config, versions, results), resumable out dirs.

Every long job writes ``run.json`` into its output directory holding the config it was started
with, the library versions and (once finished) its results. Checkpoints are written atomically
(temp file + ``os.replace``) so a kill never leaves a half-written file behind.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
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


def _umask() -> int:
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files (0644 under umask 022)
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


def check_out_dir(out: str | Path, flag: str = "`out`") -> Path:
    """``out`` if a run directory can be made and written there; else a one-line :class:`UserError`.

    Catches, before any work is done: ``out`` is an existing file, lies under a file, or its nearest
    existing folder is not writable (permissions or a read-only file system, found by writing a probe
    file there).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{flag} {out} is an existing file, not a directory; give a new folder name, e.g. {flag} {out}.d")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {out} lies under the file {parent}; choose a path whose parents are folders")
    _probe_writable(parent, f"{flag} {out}")
    return out


def check_out_file(path: str | Path, flag: str, suffixes: tuple[str, ...] = (".png",)) -> Path:
    """``path`` if a file with one of ``suffixes`` can be written there; else a one-line :class:`UserError`."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a directory; give a file name, e.g. {flag} {path / ('out' + suffixes[0])}")
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{flag} {path}: unsupported file type {path.suffix or '(none)'!r}; "
                        f"end the name with {' or '.join(suffixes)}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {path} lies under the file {parent}; choose a path whose parents are folders")
    _probe_writable(parent, f"{flag} {path}")
    return path


def _probe_writable(folder: Path, what: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".infwidth-probe-")
    except OSError as exc:
        reason = "a read-only file system" if exc.errno == errno.EROFS else (exc.strerror or type(exc).__name__).lower()
        raise UserError(f"{what}: cannot write in {folder} ({reason}); choose a writable folder") from None
    os.close(fd)
    os.unlink(probe)


# ---------------------------------------------------------------- one writer per run directory
LOCK_FILE = ".lock"
_HELD: dict[Path, int] = {}  # resolved run dir -> open, locked file descriptor


def lock_run_dir(out: str | Path) -> Path:
    """Take ``out/.lock`` (``fcntl.flock``, holding ``pid ... on HOST``) for this process; re-entrant.

    A second process asking for the same directory gets a one-line :class:`UserError` naming the
    holder. The lock dies with its process, so a killed run's leftover lock file is stale and is
    taken over (without ``fcntl``, an ``O_EXCL`` lock file whose pid no longer runs on this host).
    """
    out = Path(out)
    key = out.resolve()
    if key in _HELD:
        return out
    path = out / LOCK_FILE
    me = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    while True:
        if fcntl is None:  # pragma: no cover - Windows
            fd = _lock_exclusive(path, out)
            break
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{out} is being written by another run ({holder}); wait for it to finish, "
                            "or give another `out`") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder released (and removed) the file between our open and flock: retry
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (me + "\n").encode())
    _HELD[key] = fd
    return out


def _lock_exclusive(path: Path, out: Path) -> int:  # pragma: no cover - used only without fcntl
    for _ in range(2):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = path.read_text(errors="replace").strip()
            parts = holder.split()
            if len(parts) >= 4 and parts[0] == "pid" and parts[3] == socket.gethostname() and not _alive(int(parts[1])):
                path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            raise UserError(f"{out} is being written by another run ({holder}); wait for it to finish, "
                            f"or give another `out` (delete {path} if that run is gone)") from None
    raise UserError(f"cannot lock {out}; delete {path} and retry")


def _alive(pid: int) -> bool:  # pragma: no cover - used only without fcntl
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def release_run_dir(out: str | Path) -> None:
    """Give up this process's lock on ``out`` (no-op when not held)."""
    fd = _HELD.pop(Path(out).resolve(), None)
    if fd is None:
        return
    with suppress(OSError):
        os.unlink(Path(out) / LOCK_FILE)
    with suppress(OSError):
        os.close(fd)


def release_run_locks() -> None:
    """Give up every run-directory lock this process holds (the CLI calls it when a command ends)."""
    for key in list(_HELD):
        release_run_dir(key)


# ---------------------------------------------------------------- reading state back
def read_json(path: str | Path, fix: str, kind: type = dict) -> Any:
    """JSON from ``path`` (a ``kind``); a truncated, empty or foreign file is a one-line :class:`UserError`
    ending with ``fix``."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is unreadable or truncated ({_first_line(exc)}); {fix}") from None
    if not isinstance(obj, kind):
        raise UserError(f"{path} holds a JSON {type(obj).__name__}, not the {kind.__name__} infwidth writes; {fix}")
    return obj


def load_torch(path: str | Path, fix: str, map_location: Any = "cpu", keys: tuple[str, ...] = ()) -> Any:
    """``torch.load`` a file infwidth wrote; a truncated, empty or foreign file is a one-line error."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, ImportError, IndexError, KeyError, TypeError) as exc:
        if isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "allocate" in str(exc)):
            raise
        raise UserError(f"{path} is truncated or not a torch file infwidth wrote ({_first_line(exc)}); {fix}") from None
    missing = [k for k in keys if not (isinstance(obj, dict) and k in obj)]
    if missing:
        raise UserError(f"{path} is not the file infwidth writes there (no {', '.join(missing)}); {fix}")
    return obj


def load_npy(path: str | Path, fix: str) -> Any:
    """A real (float or integer) ``.npy`` array infwidth wrote; an empty, truncated or foreign file
    (an ``.npz`` archive, pickled objects, complex numbers) is a one-line :class:`UserError`."""
    import zipfile

    import numpy as np

    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path} is empty, truncated or not a .npy array ({_first_line(exc)}); {fix}") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise UserError(f"{path} is an .npz archive, not a .npy array; {fix}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise UserError(f"{path} holds {arr.dtype} values, not real numbers; {fix}")
    return arr


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def read_run_record(out: str | Path, fix: str) -> dict[str, Any]:
    """``out/run.json`` as a dict with a ``config`` mapping; anything else is a one-line error ending with ``fix``."""
    record = read_json(Path(out) / RUN_FILE, fix)
    if not isinstance(record.get("config"), dict):
        raise UserError(f"{Path(out) / RUN_FILE} has no config mapping (not an infwidth run record); {fix}")
    return record


def _failed_start(out: Path, record: Any) -> bool:
    """True when ``out`` holds only a 'running' run.json (and the lock): a start that failed before any work."""
    if not (isinstance(record, dict) and record.get("status") == "running"):
        return False
    return all(p.name in (RUN_FILE, LOCK_FILE) or p.name.startswith(f".{RUN_FILE}.") for p in out.iterdir())


def prepare_out_dir(
    out: str | Path,
    config: Mapping[str, Any],
    *,
    resume: bool = False,
    overwrite: bool = False,
    resumable: bool = True,
) -> tuple[Path, bool]:
    """Create and lock ``out`` for a run with ``config``; returns ``(path, resuming)``.

    An existing directory holding a run with a *different* config is refused unless
    ``overwrite``; one with the same config is resumed only when ``resume`` is set (``resumable``
    False: the command has no ``--resume``, so the message does not offer it). An unreadable
    ``run.json`` is replaced under ``overwrite``; a directory left by a start that failed before any
    work (only a "running" ``run.json``) is reused. Nothing is deleted here: overwriting replaces
    files as the new run writes them. The lock (:func:`lock_run_dir`) is held until
    :func:`write_run_record` records a finished run, or :func:`release_run_locks`.
    """
    out = check_out_dir(out)
    record = out / RUN_FILE
    config = jsonable(config)
    out.mkdir(parents=True, exist_ok=True)
    lock_run_dir(out)
    try:
        if record.exists():
            try:
                old = json.loads(record.read_text())
                if not isinstance(old, dict):
                    raise ValueError(f"a JSON {type(old).__name__}, not a run record")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                if not overwrite:
                    raise UserError(f"{record} is unreadable or not a run record ({_first_line(exc)}); "
                                    "pass `overwrite=True` to start afresh, or give another `out`") from None
                old = None
            if old is not None and not overwrite and not _failed_start(out, old):
                same = old.get("config") == config
                if resume and same:
                    return out, True
                if resume:
                    raise UserError(
                        f"{out} holds a run with a different config; use another `out`, or `overwrite=True` to replace it"
                    )
                if resumable and same:
                    raise UserError(
                        f"{out} already holds a run; pass `resume=True` to continue it or `overwrite=True` to replace it"
                    )
                raise UserError(f"{out} already holds a run{'' if same else ' with a different config'}; "
                                "use another `out`, or `overwrite=True` to replace it")
            if old is not None and resume and old.get("config") == config:
                return out, True
        elif resume:
            raise UserError(f"nothing to resume in {out} (no {RUN_FILE}); drop `resume` to start a new run")
        write_run_record(out, config, status="running")
    except BaseException:
        release_run_dir(out)
        raise
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
    if status != "running":
        release_run_dir(out)
    return path
