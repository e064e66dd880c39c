"""Finite muP nets approach each limit like n^{-1/2} (fixed steps), measured by run_convergence."""

import pytest

from infwidth.errors import UserError
from infwidth.limits.feature_learning.convergence import (
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
