"""Finite AbcMLPs trained by SGD converge to the kernel-regime limit; the unit of work matches the loop."""

from __future__ import annotations

import pickle

import pytest

from infwidth.parametrizations.abc import ntp, sp
from infwidth.studies.kernels import (
    KernelConvergenceConfig,
    KernelConvergencePoint,
    finite_vs_limit,
    kernel_point,
    synthetic_regression,
)


def test_finite_ntp_networks_approach_the_limit() -> None:
    """Small version of the shipped check: the gap shrinks with width at a rate near n^{-1/2}."""
    data = synthetic_regression(n_train=8, n_test=32, d=3)
    res = finite_vs_limit(ntp(2), [64, 256, 1024], steps=8, batch=4, lr=0.2, seeds=3, data=data)
    assert res.gaps[0] > res.gaps[1] > res.gaps[2]
    assert -0.8 < res.slope < -0.3



@pytest.mark.slow
@pytest.mark.parametrize("p, lr", [(ntp(2), 0.2), (sp(2, c=1), 2.0)], ids=["ntp", "sp-c1"])
def test_convergence_rate_is_half(p, lr: float) -> None:  # noqa: ANN001
    data = synthetic_regression(n_train=16, n_test=32, d=4)  # as `infwidth kernel-converge`
    res = finite_vs_limit(p, [64, 256, 1024, 4096], steps=20, lr=lr, seeds=6, data=data)
    assert -0.62 < res.slope < -0.38


def test_unit_of_work_gives_the_loops_numbers() -> None:
    """``kernel_point`` from a pickled config gives exactly the loop's gap and trajectories."""
    res = finite_vs_limit(sp(2, c=1), [32, 128], steps=4, batch=4, lr=1.0, seeds=2)
    cfg = KernelConvergenceConfig(sp(2, c=1), (32, 128), steps=4, batch=4, lr=1.0, seeds=2)
    for w_i, width in enumerate((32, 128)):
        for seed in range(2):
            point = pickle.loads(pickle.dumps(KernelConvergencePoint(cfg, width, seed)))
            out = kernel_point(point)
            assert out["gap"] == res.gaps_per_seed[w_i][seed]
            if seed == 0:
                assert out["finite"] == res.trajectories["finite"][width]
                assert out["limit"] == res.trajectories["limit"][width]
