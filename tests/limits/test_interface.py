"""Every limit offers the common interface: ``sample``, ``train`` and ``finite_trajectory`` with one Trajectory type."""

import pytest
import torch

from infwidth.limits.feature_learning import DeepLinearMupLimit, LinearMupLimit, MeanFieldLimit
from infwidth.limits.interface import Limit, Trajectory
from infwidth.limits.kernels.limit import KernelRegimeLimit
from infwidth.limits.sgd import train_module
from infwidth.parametrizations import ntp, sp


def _task(d: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, d, generator=g, dtype=torch.float64)
    return x, torch.sin(x[:, :1]), torch.randn(3, d, generator=g, dtype=torch.float64)


LIMITS = {
    "linear1": lambda: LinearMupLimit(2, 1),
    "mean_field": lambda: MeanFieldLimit(2, 1, "tanh"),
    "deep_linear": lambda: DeepLinearMupLimit(2, 1, 3),
    "kernel": lambda: KernelRegimeLimit(ntp(2), 2),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_every_limit_has_the_interface(name):
    lim = LIMITS[name]()
    assert isinstance(lim, Limit)
    x, y, ex = _task()
    ref = lim.train(x, y, 0.1, 3, 4, ex)
    fin = lim.finite_trajectory(64, 1, x, y, 0.1, 3, 4, ex)
    for traj in (ref, fin):
        assert type(traj) is Trajectory or isinstance(traj, Trajectory)
        assert traj.f.shape == (4, 3, 1) and traj.kernel.shape == (4, 3, 3)
    assert ref.info and isinstance(lim.sample(16, 0), torch.nn.Module)


def test_linear_train_keeps_the_limit_and_simulator_matches_real_net():
    lim = LinearMupLimit(2, 1)
    a0 = lim.A.detach().clone()
    x, y, ex = _task()
    lim.train(x, y, 0.5, 4, 4, ex)
    assert torch.equal(lim.A.detach(), a0)  # train runs on a copy: samples stay coupled to the initial limit
    real = train_module(lim.sample(256, 3), x, y, 0.5, 4, 4, ex)
    sim = lim.finite_trajectory(256, 3, x, y, 0.5, 4, 4, ex)
    assert float((real.f - sim.f).abs().max()) < 1e-10


@pytest.mark.parametrize("p", [ntp(2), sp(2, c=1)], ids=["ntp", "sp-c1"])
def test_kernel_limit_finite_nets_approach_it(p):
    """The finite net's empirical training kernel and outputs approach the limit's as width grows."""
    lim = KernelRegimeLimit(p, 2)
    x, y, ex = _task()
    ref = lim.train(x, y, 0.2, 1, 4, ex)
    gaps = []
    for n in (32, 1024):
        fin = lim.finite_trajectory(n, 0, x, y, 0.2, 1, 4, ex)
        rel = torch.linalg.matrix_norm(fin.kernel[0] - ref.kernel[0]) / torch.linalg.matrix_norm(ref.kernel[0])
        gaps.append(float(rel))
    assert gaps[1] < 0.1 and gaps[1] < gaps[0] / 2
