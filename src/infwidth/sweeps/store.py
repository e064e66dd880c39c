"""A sweep's out directory: ``run.json`` (the sweep, via infwidth.runs) and one JSON file per finished point.

``points/<key>.json`` is written atomically the moment a point finishes (temp file, fsync, rename), so a
kill -9 of the driver or a worker loses at most the points in flight; rerunning reads what is there
and skips it. The key is a stable hash of the unit and the point's full config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infwidth.errors import UserError
from infwidth.runs import RUN_FILE, atomic_write_json, prepare_out_dir, write_run_record
from infwidth.sweeps.spec import Point, Sweep

POINTS_DIR = "points"


def open_out_dir(out: str | Path, sweep: Sweep, *, overwrite: bool = False) -> Path:
    """Create or reopen ``out`` for ``sweep``: the same sweep resumes, another one is refused unless ``overwrite``.

    Overwriting keeps the point files: a sweep reads only its own points (by key), and a point whose
    key matches (same unit, same full config: the same computation) is reused, so widening an axis
    reruns only the new points.
    """
    out = Path(out)
    config = sweep.as_dict()
    same = False
    record = out / RUN_FILE
    if record.exists():
        try:
            same = json.loads(record.read_text()).get("config") == json.loads(json.dumps(config))
        except (OSError, ValueError, AttributeError):  # unreadable, or JSON that is not a run record
            same = False
        if not same and not overwrite:
            raise UserError(f"{out} holds another sweep (or another run); use another `out`, or pass `overwrite=True` "
                            "to replace it (points with identical configs are reused)")
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out} is not empty and holds no sweep; use another `out`, or pass `overwrite=True` to write into it")
    out, _ = prepare_out_dir(out, config, resume=same, overwrite=overwrite)
    (out / POINTS_DIR).mkdir(exist_ok=True)
    return out


def point_path(out: Path, key: str) -> Path:
    return Path(out) / POINTS_DIR / f"{key}.json"


def write_point(out: Path, point: Point, record: Mapping[str, Any]) -> None:
    """Atomically record a finished point: key, config, axes, status, result or error, seconds."""
    atomic_write_json(point_path(out, point.key), {"key": point.key, "axes": point.axes, "config": point.config, **record})


def read_points(out: str | Path) -> dict[str, dict[str, Any]]:
    """Every finished point in ``out``, by key (unreadable files, e.g. from a foreign tool, are skipped)."""
    found = {}
    for path in sorted((Path(out) / POINTS_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("key") == path.stem:
            found[path.stem] = record
    return found


def read_sweep(out: str | Path) -> Sweep:
    """The sweep recorded in ``out/run.json``."""
    record = Path(out) / RUN_FILE
    if not record.is_file():
        raise UserError(f"{out} holds no sweep (no {RUN_FILE}); run a sweep into it first")
    try:
        config = json.loads(record.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{record} is unreadable or not a sweep record; rerun the sweep with `overwrite=True`") from None
    return Sweep.from_dict(config, name=str(config.get("name", "")))


def finish(out: Path, sweep: Sweep, summary: Mapping[str, Any]) -> None:
    """Mark the sweep finished (or partial) in run.json with its summary."""
    status = "finished" if summary.get("pending", 0) == 0 else "partial"
    write_run_record(out, sweep.as_dict(), results=summary, status=status)
