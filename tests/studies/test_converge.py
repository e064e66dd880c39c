"""Finite muP nets approach each limit like n^{-1/2} (fixed steps), measured by run_convergence."""

import pytest

from infwidth.errors import UserError
from infwidth.studies.converge import (
    PRESETS,
    ConvergenceConfig,
    fit_slope,
    run_convergence,
)


def test_fit_slope_recovers_a_power_law():
    widths = [16, 64, 256, 1024]
    slope, icpt = fit_slope(widths, [3.0 * w**-0.5 for w in widths])
    assert slope == pytest.approx(-0.5, abs=1e-12)


@pytest.mark.parametrize(
    "model", [m if m != "linear-deep" else pytest.param(m, marks=pytest.mark.slow) for m in PRESETS]
)
def test_fitted_rate_is_minus_one_half(model):
    cfg = ConvergenceConfig(model, widths=tuple(2**p for p in range(5, 13)), seeds=24, steps=6)
    res = run_convergence(cfg)
    assert -0.6 <= res.f_slope <= -0.4, res.f_slope
    assert -0.6 <= res.kernel_slope <= -0.4, res.kernel_slope
    assert res.limit_kernel_movement > 0.1  # the limit learns features: the rate is not about a frozen kernel
    assert res.f_error[-1] < 0.2 * res.f_error[0]


def test_deep_rate_small():
    cfg = ConvergenceConfig("linear-deep", depth=2, widths=(32, 128, 512, 2048), seeds=16, steps=4)
    res = run_convergence(cfg)
    assert -0.65 <= res.f_slope <= -0.35, res.f_slope


def test_resume_skips_finished_widths_and_gives_the_same_numbers():
    cfg = ConvergenceConfig("linear1", widths=(16, 64, 256), seeds=3, steps=3)
    seen = {}
    full = run_convergence(cfg, on_width=lambda n, f, k: seen.__setitem__(n, (f, k)))
    partial = {16: seen[16], 64: seen[64]}
    calls = []
    again = run_convergence(cfg, done=partial, progress=calls.append)
    assert again.f_error == full.f_error and again.kernel_error == full.kernel_error
    assert calls.count(3) == 2 and calls.count(1) == 3  # two widths skipped, one recomputed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "sigmoid1"}, "unknown model"),
        ({"model": "linear1", "widths": (0, 16)}, "widths must be integers >= 1"),
        ({"model": "linear1", "widths": (64, 16)}, "increase"),
        ({"model": "linear1", "widths": (64,)}, "two widths"),
        ({"model": "linear-deep", "depth": 1}, "depth >= 2"),
        ({"model": "tanh1", "lr": -1.0}, "lr must be"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(UserError, match=match):
        ConvergenceConfig(**kwargs).check()


@pytest.mark.parametrize("model", ["linear1", "tanh1", "linear-deep"])
def test_unit_of_work_gives_the_loops_numbers(model):
    """``run_point`` from a pickled config is JSON-ready and sums to exactly the loop's errors."""
    import json
    import pickle

    import torch

    from infwidth.studies.converge import ConvergencePoint, run_point

    cfg = ConvergenceConfig(model, depth=2, widths=(16, 32), seeds=2, steps=3)
    res = run_convergence(cfg)
    for w_i, width in enumerate(cfg.widths):
        f_sq = torch.zeros(cfg.steps + 1, dtype=torch.float64)
        for s in range(cfg.seeds):
            point = pickle.loads(pickle.dumps(ConvergencePoint(cfg, width, s)))
            out = json.loads(json.dumps(run_point(point)))
            f_sq += torch.tensor(out["f_sq"], dtype=torch.float64)
        assert (f_sq / cfg.seeds).sqrt().tolist() == res.f_error_by_step[w_i]


def test_a_registered_limit_joins_the_study_without_editing_it():
    """A new limit plugs in through the Limit interface: here the linear limit under another name."""
    from infwidth.limits.feature_learning import LinearMupLimit
    from infwidth.studies.converge import LIMIT_MODELS, register_model

    register_model("toy-linear", lambda cfg, d, do, dev: LinearMupLimit(d, do, device=dev))
    try:
        toy = run_convergence(ConvergenceConfig("toy-linear", widths=(16, 64), seeds=2, steps=2, lr=0.5))
    finally:
        LIMIT_MODELS.pop("toy-linear")
    ref = run_convergence(ConvergenceConfig("linear1", widths=(16, 64), seeds=2, steps=2, lr=0.5))
    assert toy.f_error == ref.f_error and toy.limit == ref.limit
