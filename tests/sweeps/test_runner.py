"""Running sweeps: executors agree, finished points survive kill -9 and are skipped, failures are recorded."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infwidth.errors import UserError
from infwidth.sweeps import ProcessExecutor, Sweep, read_points, report, run_sweep

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _sweep(**base):
    return Sweep.from_dict({
        "unit": "quadratic", "base": {"noise": 0.2, **base},
        "axes": {"param": ["mup", "sp"], "width": [64, 256], "lr": {"log2": [-10, -6]}, "seed": [0, 1]},
        "transfer": {},
    })


def _table(out):
    """results.csv without the timing column (everything else must match exactly)."""
    report(out, plots=False)
    with open(out / "results.csv") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_local_and_process_executors_give_identical_tables(tmp_path):
    sweep = _sweep(fail_at_lr=2.0**-8)
    s1 = run_sweep(sweep, tmp_path / "local", progress=False)
    s2 = run_sweep(sweep, tmp_path / "proc", executor="processes", workers=2, progress=False)
    assert s1["points"] == s2["points"] == 40 and s1["failed"] == s2["failed"] == 8
    assert s2["executor"] == "processes"
    assert _table(tmp_path / "local") == _table(tmp_path / "proc")


def test_failing_points_are_recorded_and_the_rest_finish(tmp_path):
    summary = run_sweep(_sweep(fail_at_lr=2.0**-7), tmp_path, progress=False)
    assert (summary["ok"], summary["failed"], summary["pending"]) == (32, 8, 0)
    records = read_points(tmp_path).values()
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 8 and all(r["axes"]["lr"] == 2.0**-7 for r in failed)
    assert failed[0]["error"] == "FloatingPointError: loss diverged at lr=0.0078125"
    rep = report(tmp_path, plots=False)
    assert rep["failed"] == 8 and rep["transfer"]["mup"]["pass"] in (True, False)


def test_rerun_skips_finished_points_and_retries_failed_on_request(tmp_path):
    sweep = _sweep(fail_at_lr=2.0**-7)
    run_sweep(sweep, tmp_path, progress=False)
    assert run_sweep(sweep, tmp_path, progress=False)["ran"] == 0
    assert run_sweep(sweep, tmp_path, progress=False, retry_failed=True)["ran"] == 8


def test_out_dir_holding_another_sweep_is_refused_unless_overwrite(tmp_path):
    run_sweep(_sweep(), tmp_path, progress=False)
    other = _sweep(noise=0.5)
    with pytest.raises(UserError, match="holds another sweep"):
        run_sweep(other, tmp_path, progress=False)
    summary = run_sweep(other, tmp_path, progress=False, overwrite=True)
    assert summary["ran"] == 40 and summary["points"] == 40
    rep = report(tmp_path, plots=False)
    assert rep["points"] == 40 and len(_table(tmp_path)) == 40  # only this sweep's points in its table
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and holds no sweep"):
        run_sweep(other, tmp_path / "foreign", progress=False)


def test_widening_an_axis_reuses_the_finished_points(tmp_path):
    narrow = _sweep()
    run_sweep(narrow, tmp_path, progress=False)
    wide = Sweep.from_dict({**narrow.as_dict(), "axes": {**narrow.axes, "lr": [2.0**k for k in range(-12, -5)]}})
    summary = run_sweep(wide, tmp_path, progress=False, overwrite=True)
    assert summary["points"] == 56 and summary["ran"] == 16  # only the two new learning rates ran


def test_a_dead_worker_process_is_retried_then_recorded(tmp_path):
    sweep = Sweep.from_dict({"unit": "quadratic", "base": {"crash_at_lr": 2.0**-9},
                             "axes": {"width": [64], "lr": {"log2": [-10, -6]}}})
    summary = run_sweep(sweep, tmp_path, executor=ProcessExecutor(workers=2, max_retries=1), progress=False)
    assert summary["ok"] == 4 and summary["failed"] == 1
    errors = {r["error"] for r in read_points(tmp_path).values() if r["status"] == "failed"}
    assert errors == {"worker process died (killed or out of memory)"}


def test_kill_9_of_the_driver_then_rerun_gives_the_uninterrupted_table(tmp_path):
    spec = {"unit": "quadratic", "base": {"noise": 0.2, "sleep": 0.05},
            "axes": {"width": [64, 128, 256], "lr": {"log2": [-12, -3]}, "seed": [0, 1]}}
    code = f"import sys; from infwidth.sweeps import run_sweep; run_sweep({spec!r}, sys.argv[1], progress=False)"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", code, str(killed)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "points").glob("*.json"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(read_points(killed))
    assert 5 <= partial < 60  # interrupted mid-sweep; every file there is complete JSON
    full = tmp_path / "full"
    run_sweep(spec, full, progress=False)
    assert run_sweep(spec, killed, progress=False)["ran"] == 60 - partial  # resume: only the missing points
    assert len(read_points(killed)) == 60
    assert _table(killed) == _table(full)


def test_report_without_enough_widths_for_a_verdict_says_why(tmp_path):
    spec = {"unit": "quadratic", "axes": {"width": [64], "lr": {"log2": [-10, -6]}}, "transfer": {}}
    run_sweep(spec, tmp_path, progress=False)
    rep = report(tmp_path)
    assert rep["points"] == 5 and rep["transfer"] == {} and "at least 2 widths" in rep["transfer_error"]
