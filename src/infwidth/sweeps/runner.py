"""Run a sweep into an out directory: skip finished points, write each new one as it lands, show progress."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infwidth.sweeps.executors import Executor, make_executor
from infwidth.sweeps.spec import Sweep, load_sweep
from infwidth.sweeps.store import finish, open_out_dir, read_points, write_point


def _metric(record: Mapping[str, Any], metric: str) -> float | None:
    value = (record.get("result") or {}).get(metric) if record.get("status") == "ok" else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def summarize(sweep: Sweep, records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Counts (points, ok, failed, pending) and the best point so far by the sweep's metric."""
    points = sweep.points()
    mine = [records[p.key] for p in points if p.key in records]
    ok = [r for r in mine if r.get("status") == "ok"]
    scored = [(m, r) for r in ok if (m := _metric(r, sweep.metric)) is not None]
    best = min(scored, key=lambda t: t[0], default=None)
    return {
        "points": len(points),
        "ok": len(ok),
        "failed": len(mine) - len(ok),
        "pending": len(points) - len(mine),
        "best": None if best is None else {"metric": sweep.metric, "value": best[0], "axes": best[1]["axes"]},
        "point_seconds": sum(r.get("seconds") or 0.0 for r in mine),
    }


def run_sweep(
    sweep: Sweep | str | Path | Mapping[str, Any],
    out: str | Path,
    *,
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    gpus_per_point: float = 0.0,
    overwrite: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    on_point: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every point of ``sweep`` not yet finished in ``out``; returns :func:`summarize`'s counts.

    ``out`` holding another sweep is refused unless ``overwrite``. Points that failed before are
    skipped too unless ``retry_failed``. Each finished point is written atomically as it lands.
    """
    from tqdm import tqdm

    sweep = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    points = sweep.points()
    target = sweep.resolved_unit().target
    out_dir = open_out_dir(out, sweep, overwrite=overwrite)
    done = read_points(out_dir)
    todo = [p for p in points if p.key not in done or (retry_failed and done[p.key].get("status") != "ok")]
    by_key = {p.key: p for p in todo}
    summary = summarize(sweep, done)
    best = summary["best"]["value"] if summary["best"] else math.inf
    ex = executor if isinstance(executor, Executor) else make_executor(executor, workers=workers, address=address, gpus_per_point=gpus_per_point)
    start = time.perf_counter()
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=f"sweep {sweep.name or sweep.unit}",
               unit="pt", disable=not progress, leave=False, smoothing=0.1,
               mininterval=0.1 if sys.stderr.isatty() else 30.0)  # off a terminal: a line every 30 s, no flood
    failed = 0
    try:
        for key, record in ex.run((p.key, target, p.config) for p in todo):
            write_point(out_dir, by_key[key], record)
            done[key] = record
            failed += record.get("status") != "ok"
            value = _metric(record, sweep.metric)
            if value is not None and value < best:
                best = value
            bar.set_postfix_str(f"best {sweep.metric} {best:.4g}" + (f", {failed} failed" if failed else ""), refresh=False)
            bar.update(1)
            if on_point is not None:
                on_point(key, record)
    finally:
        bar.close()
        if not isinstance(executor, Executor):
            ex.close()
    summary = summarize(sweep, read_points(out_dir))
    summary["ran"] = len(todo)
    summary["wall_seconds"] = time.perf_counter() - start
    summary["executor"] = ex.name
    finish(out_dir, sweep, summary)
    return summary
