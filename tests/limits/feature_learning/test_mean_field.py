"""The 1-hidden-layer nonlinear muP limit: linear reduction, quadrature vs Monte Carlo, finite nets."""

import math

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.limits.feature_learning.linear import LinearMupLimit
from infwidth.limits.feature_learning.mean_field import MeanFieldLimit
from infwidth.limits.sgd import train_module

F64 = torch.float64


def _data(seed=0, n=8, d=2, d_o=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=F64), torch.randn(n, d_o, generator=g, dtype=F64),
            torch.randn(5, d, generator=g, dtype=F64))


@pytest.mark.parametrize("method, d_o", [("quadrature", 1), ("sphere", 1), ("quadrature", 2)])
def test_identity_limit_is_the_exact_linear_limit(method, d_o):
    x, y, ex = _data(d=2, d_o=d_o)
    run = MeanFieldLimit(2, d_o, "identity", sigma_u=1.2, sigma_v=0.8).train(x, y, 0.4, 7, 3, ex, method=method, order=8)
    ref = train_module(LinearMupLimit(2, d_o, sigma_u=1.2, sigma_v=0.8), x, y, 0.4, 7, 3, ex)
    assert torch.allclose(run.f, ref.f, atol=1e-12)
    assert torch.allclose(run.kernel, ref.kernel, atol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "gelu", "relu"])
def test_quadrature_agrees_with_monte_carlo(nonlinearity):
    x, y, ex = _data(seed=1)
    lim = MeanFieldLimit(2, 1, nonlinearity, sigma_u=1.0, sigma_v=1.0)
    quad = lim.train(x, y, 0.5, 5, 4, ex)  # auto: Gauss-Hermite, or the sphere rule for relu
    mc = lim.train(x, y, 0.5, 5, 4, ex, method="mc", samples=2**16, replicas=16, seed=3)
    assert quad.f_error < 5e-3 and quad.kernel_error < 5e-3  # order 2q/3 -> q changes little
    z = ((mc.f - quad.f) / (mc.f_se**2 + quad.f_error**2).sqrt())[1:]  # t = 0: both exactly 0
    assert z.abs().max() < 4.5, z.abs().max()
    zk = (mc.kernel - quad.kernel) / (mc.kernel_se**2 + quad.kernel_error**2).sqrt()
    assert zk.abs().max() < 4.5, zk.abs().max()
    # and the limit really moved (else agreement would be trivial)
    assert (quad.f[-1] - quad.f[0]).abs().max() > 0.1


def test_quadrature_order_converges_for_smooth_phi():
    x, y, ex = _data(seed=2)
    lim = MeanFieldLimit(2, 1, "tanh")
    f = {q: lim.train(x, y, 0.5, 4, 4, ex, method="quadrature", order=q, estimate_error=False).f
         for q in (16, 32, 64)}
    assert (f[32] - f[64]).abs().max() < 0.3 * (f[16] - f[64]).abs().max()
    assert (f[32] - f[64]).abs().max() < 2e-3


def test_finite_nets_approach_mean_field_limit():
    x, y, ex = _data(seed=4)
    lim = MeanFieldLimit(2, 1, "tanh")
    ref = lim.train(x, y, 0.5, 4, 4, ex)
    assert ref.f_error < 1e-3
    widths, errs = [2**p for p in range(5, 12)], []
    for n in widths:
        sq = [((train_module(lim.sample(n, s), x, y, 0.5, 4, 4, ex).f[-1] - ref.f[-1]) ** 2).mean().item()
              for s in range(16)]
        errs.append(math.sqrt(np.mean(sq)))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -0.62 <= slope <= -0.38, slope


def test_bad_inputs():
    x, y, ex = _data()
    lim = MeanFieldLimit(2, 1, "tanh")
    with pytest.raises(UserError, match="d_in=2"):
        lim.train(torch.zeros(4, 3, dtype=F64), y[:4], 0.1, 2, 2, ex)
    with pytest.raises(UserError, match="unsupported nonlinearity"):
        MeanFieldLimit(2, 1, "softsign")
    with pytest.raises(UserError, match="quadrature supports only"):
        MeanFieldLimit(2, 1, torch.sigmoid).train(x, y, 0.1, 2, 2, ex, method="quadrature")
    with pytest.raises(UserError, match="too few"):
        lim.train(x, y, 0.1, 2, 2, ex, method="mc", samples=10, replicas=8)
    with pytest.raises(UserError, match="exceeds the requested"):
        lim.train(x, y, 0.5, 3, 4, ex, method="mc", samples=256, replicas=8, max_se=1e-5)
    with pytest.raises(UserError, match="`width` must be"):
        lim.sample(0, 0)


def test_callable_nonlinearity_by_monte_carlo():
    x, y, ex = _data(seed=5)
    mc = MeanFieldLimit(2, 1, torch.tanh).train(x, y, 0.5, 3, 4, ex, method="mc", samples=2**14, replicas=8)
    quad = MeanFieldLimit(2, 1, "tanh").train(x, y, 0.5, 3, 4, ex)
    assert ((mc.f - quad.f) / mc.f_se)[1:].abs().max() < 4.5
