"""The transfer verdict: passes when the optimum stays put, fails (naming widths) when it drifts."""

import math

import numpy as np
import pytest

from infwidth.sweeps import Sweep, TransferSpec, check_transfer, parabola_vertex, rows, run_sweep
from infwidth.sweeps.store import read_points


def test_parabola_vertex_is_exact_on_a_parabola_between_grid_points():
    x = np.arange(-10.0, -1.0)
    v, edge = parabola_vertex(x, (x + 5.3) ** 2 + 1.0)
    assert not edge and v == pytest.approx(-5.3)
    v, edge = parabola_vertex(x, (x + 12) ** 2)  # minimum off the grid: the edge, flagged
    assert edge and v == -10.0
    y = (x + 5.0) ** 2
    y[-2:] = np.nan  # diverged at large rates (not next to the optimum): ignored
    assert parabola_vertex(x, y) == (pytest.approx(-5.0), False)


def _synthetic(tmp_path, drift, noise=0.3, widths=(64, 128, 256, 512, 1024), name="s"):
    sweep = Sweep.from_dict({
        "unit": "quadratic", "base": {"drift": drift, "noise": noise},
        "axes": {"param": ["p"], "width": list(widths), "lr": {"log2": [-16, -2]}, "seed": [0, 1, 2]},
        "transfer": {},
    })
    out = tmp_path / name
    run_sweep(sweep, out, progress=False)
    return check_transfer(rows(sweep, read_points(out)), sweep.transfer, "loss")["p"]


def test_fixed_optimum_passes(tmp_path):
    v = _synthetic(tmp_path, drift=0.0)
    assert v.passed and abs(v.drift_per_doubling) < 0.1
    assert v.tolerance_per_doubling == pytest.approx(0.25)  # one grid step (1 octave) across 16x
    assert all(abs(x + 8) < 0.3 for x in v.log2_lr_star)
    assert all(s > 0 for s in v.log2_lr_star_std)  # seeds differ: a bootstrap spread
    assert "pass" in v.message


def test_one_grid_step_per_doubling_fails_naming_the_widths(tmp_path):
    v = _synthetic(tmp_path, drift=-1.0)
    assert not v.passed
    assert v.drift_per_doubling == pytest.approx(-1.0, abs=0.1)
    assert v.drift_ci[0] <= v.drift_per_doubling <= v.drift_ci[1]
    assert "fail" in v.message and "64" in v.message and "1024" in v.message


def test_tolerance_boundary(tmp_path):
    # a third of the allowed drift passes; twice it fails
    assert _synthetic(tmp_path, drift=0.25 / 3, noise=0.0, name="a").passed
    assert not _synthetic(tmp_path, drift=0.5, noise=0.0, name="b").passed
    strict = TransferSpec(tolerance_steps=0.1, over_doublings=4)
    sweep_rows = [
        {"param": "p", "width": w, "lr": 2.0**k, "seed": 0, "status": "ok", "loss": (k + 5 + 0.2 * math.log2(w / 64)) ** 2}
        for w in (64, 128, 256, 512, 1024) for k in range(-10, 0)
    ]
    assert not check_transfer(sweep_rows, strict)["p"].passed
    assert check_transfer(sweep_rows, TransferSpec())["p"].passed


def test_optimum_on_grid_edge_is_not_a_pass(tmp_path):
    sweep_rows = [
        {"param": "p", "width": w, "lr": 2.0**k, "seed": 0, "status": "ok", "loss": float(k + 20)}
        for w in (64, 128, 256) for k in range(-10, 0)
    ]
    v = check_transfer(sweep_rows, TransferSpec())["p"]
    assert not v.passed and "edge" in v.message and all(v.on_edge)


def test_failed_points_count_as_missing_and_groups_split():
    sweep_rows = []
    for group, drift in (("mup", 0.0), ("sp", -1.0)):
        for w in (64, 256, 1024):
            for k in range(-16, -1):
                opt = -8 + drift * math.log2(w / 64)
                sweep_rows.append({"param": group, "width": w, "lr": 2.0**k, "seed": 0,
                                   "status": "failed" if k == -2 else "ok", "loss": (k - opt) ** 2})
    verdicts = check_transfer(sweep_rows, TransferSpec())
    assert verdicts["mup"].passed and not verdicts["sp"].passed


def test_bootstrap_resamples_only_the_seeds_that_ran_at_each_width():
    sweep_rows = [
        {"param": "p", "width": w, "lr": 2.0**k, "seed": s, "status": "ok", "loss": (k + 5 + 0.3 * s) ** 2}
        for w in (64, 128, 256) for k in range(-10, 0) for s in ((0, 1, 2) if w == 64 else (0, 1))
    ]
    v = check_transfer(sweep_rows, TransferSpec())["p"]
    assert all(math.isfinite(x) and x > 0 for x in v.log2_lr_star_std)
    one_seed = [r for r in sweep_rows if r["seed"] == 0 or r["width"] == 64]
    single = check_transfer(one_seed, TransferSpec())["p"]
    assert all(math.isnan(x) for x in single.log2_lr_star_std)  # one seed at some width: no spread to estimate
    assert single.as_dict()["drift_ci90"] == [None, None]


def test_a_sweep_still_running_gets_no_verdict_from_its_missing_points():
    # width 256 has run only the small rates; the loss there falls to the last one that ran. A missing
    # point is not a bad one: the optimum found so far is no verdict ("incomplete"), while a failed point
    # at the same rates (it ran) is worst-of-curve and the group can pass.
    full = [{"param": "p", "width": w, "lr": 2.0**k, "seed": 0, "status": "ok", "loss": (k + 5) ** 2}
            for w in (64, 128, 256) for k in range(-10, 0)]
    running = [r for r in full if not (r["width"] == 256 and r["lr"] > 2.0**-7)]
    v = check_transfer(running, TransferSpec())["p"]
    assert not v.passed and "incomplete" in v.message and "256" in v.message
    failed = [r if not (r["width"] == 256 and r["lr"] > 2.0**-2) else {**r, "status": "failed", "loss": None} for r in full]
    assert check_transfer(failed, TransferSpec())["p"].passed
