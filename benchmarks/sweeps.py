"""Sweep executors: overhead per point against calling the unit directly, throughput with 1 vs 2
workers, and where a muTransfer sweep's wall time goes.

    python benchmarks/sweeps.py [--points 400] [--repeats 3] [--no-ray] [--transfer-dir DIR ...]

1. Overhead: ``--points`` points of the synthetic ``quadratic`` unit (microseconds of work each) run
   directly in a loop, then as a sweep with each executor; overhead per point = (sweep wall - direct
   wall) / points, with the fixed start-up separated by also timing a 4-point sweep (medians of
   ``--repeats``). Ray's start-up (``ray.init`` of a local 2-CPU instance) is timed on its own: it is
   paid once per sweep, not per point. Every sweep writes its points (fsync'd JSON) into a temp dir.
2. Throughput: the shipped 100-point coordinate-check sweep (``coordcheck-100``: muP, 4 widths x 25
   seeds) in process, and with 1 and 2 worker processes: cold (spawning workers that import torch) and
   again on the same, warm workers; points per second and the speed-up.
3. Wall time by point: for each finished sweep directory given with ``--transfer-dir``, the point
   seconds summed per (param, width) and their share of the total.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def _quadratic_sweep(points: int) -> dict:
    return {"unit": "quadratic", "base": {"noise": 0.1},
            "axes": {"width": [64, 128, 256, 512], "seed": list(range(points // 4))}}


def _timed_sweep(spec: dict, ex: object) -> float:
    from infwidth.sweeps import run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="sweepbench-"))
    try:
        t0 = time.perf_counter()
        summary = run_sweep(spec, tmp / "out", executor=ex, workers=2 if ex == "processes" else None, progress=False)
        wall = time.perf_counter() - t0
        assert summary["failed"] == 0 and summary["pending"] == 0, summary
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return wall


def overhead(points: int, with_ray: bool, repeats: int) -> list[tuple[str, float, float, float]]:
    """(label, wall of the full sweep, fixed start-up seconds, overhead ms per point).

    Each executor runs a 4-point and a ``points``-point sweep: per point = the difference over the
    extra points minus the unit's own time; start-up = what the 4-point sweep cost beyond that.
    """
    from infwidth.runs import versions
    from infwidth.sweeps import RayExecutor, Sweep
    from infwidth.sweeps.toy import QuadraticConfig, quadratic

    versions()  # one-off imports (torch, scipy) that run.json records: not a per-sweep cost
    spec, small = _quadratic_sweep(points), _quadratic_sweep(4)
    configs = [QuadraticConfig(**p.config) for p in Sweep.from_dict(spec).points()]
    start = time.perf_counter()
    for c in configs:
        quadratic(c)
    direct = (time.perf_counter() - start) / len(configs)
    rows = [("direct call (no sweep)", direct * len(configs), 0.0, direct * 1e3)]
    runs: list[tuple[str, object]] = [("local (in process)", "local"), ("processes, 2 workers", "processes")]
    ray_ex = None
    if with_ray:
        try:
            t0 = time.perf_counter()
            ray_ex = RayExecutor(workers=2)
            rows.append(("ray: ray.init, local 2-CPU instance (once)", time.perf_counter() - t0, float("nan"), float("nan")))
            runs.append(("ray, 2 CPUs (after start-up)", ray_ex))
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"ray skipped: {exc}", file=sys.stderr)
    for label, ex in runs:  # medians over repeats: the machine is shared and noisy
        wall_small = statistics.median(_timed_sweep(small, ex) for _ in range(repeats))
        wall = statistics.median(_timed_sweep(spec, ex) for _ in range(repeats))
        per = (wall - wall_small) / (len(configs) - 4)
        rows.append((label, wall, wall_small - 4 * per, (per - direct) * 1e3))
    if ray_ex is not None:
        ray_ex.close()
    return rows


def throughput() -> list[tuple[str, float, float, float]]:
    """(label, wall incl. worker start-up, wall with warm workers, points/s warm) for coordcheck-100."""
    from infwidth.sweeps import ProcessExecutor, load_sweep, run_sweep

    sweep = load_sweep("coordcheck-100")
    warm_up = {"unit": "coordcheck-point", "base": {"steps": 1}, "axes": {"width": [64], "seed": list(range(100, 108))}}
    out = []
    for label, workers in (("local (in process)", 0), ("processes, 1 worker", 1), ("processes, 2 workers", 2)):
        walls = []
        ex = ProcessExecutor(workers=workers) if workers else "local"
        tmp = Path(tempfile.mkdtemp(prefix="sweepbench-"))
        try:
            for name, spec in (("cold", sweep), ("warm-up", warm_up), ("warm", sweep)):
                t0 = time.perf_counter()
                summary = run_sweep(spec, tmp / name, executor=ex, progress=False)
                walls.append(time.perf_counter() - t0)
                assert summary["failed"] == 0, summary
        finally:
            if not isinstance(ex, str):
                ex.close()
            shutil.rmtree(tmp, ignore_errors=True)
        out.append((label, walls[0], walls[2], 100 / walls[2]))
    return out


def wall_by_point(path: Path) -> None:
    from infwidth.sweeps import read_points, read_sweep

    sweep = read_sweep(path)
    keys = {p.key for p in sweep.points()}
    records = {k: r for k, r in read_points(path).items() if k in keys}  # not points of an earlier grid
    width = sweep.transfer.width if sweep.transfer else "width"  # e.g. the GPT's "train.model.d_model"
    group = (sweep.transfer.group if sweep.transfer else None) or "param"
    by: dict[tuple, list[float]] = defaultdict(list)
    for r in records.values():
        by[(r["axes"].get(group, ""), r["axes"].get(width))].append(r.get("seconds") or 0.0)
    total = sum(sum(v) for v in by.values())
    print(f"\n### {sweep.name or path.name}: {len(records)} of {len(sweep.points())} points, {total:.0f} s of point time\n")
    print("| param | width | points | seconds | mean s/point | share |")
    print("|---|---|---|---|---|---|")
    for (param, width), secs in sorted(by.items(), key=lambda kv: (str(kv[0][0]), kv[0][1] or 0)):
        print(f"| {param} | {width} | {len(secs)} | {sum(secs):.0f} | {sum(secs) / len(secs):.2f} | {sum(secs) / total:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--transfer-dir", type=Path, action="append", default=[])
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.skip_overhead:
        print(f"\n### overhead per point ({args.points} quadratic points)\n")
        print("| executor | wall s | start-up s | overhead per point (ms) |")
        print("|---|---|---|---|")
        for label, wall, fixed, per in overhead(args.points, not args.no_ray, args.repeats):
            cells = [f"{wall:.2f}", "-" if fixed != fixed else f"{fixed:.2f}", "-" if per != per else f"{per:.1f}"]
            print(f"| {label} | {' | '.join(cells)} |")
    if not args.skip_throughput:
        print("\n### throughput: coordcheck-100 (muP, 4 widths x 25 seeds)\n")
        print("| executor | wall s, cold (incl. worker start-up) | wall s, warm workers | points/s (warm) | speed-up vs 1 worker (warm) |")
        print("|---|---|---|---|---|")
        rows = throughput()
        one = rows[1][2]
        for label, cold, warm, rate in rows:
            print(f"| {label} | {cold:.1f} | {warm:.1f} | {rate:.2f} | {one / warm:.2f} |")
    for path in args.transfer_dir:
        wall_by_point(path)


if __name__ == "__main__":
    main()
