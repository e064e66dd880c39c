"""The lazily sampled Gaussian matrix and the deep linear simulator built on it."""

import math

import pytest
import torch

from infwidth.limits.feature_learning._lazy_gaussian import LazyGaussianMatrix
from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit, simulate_finite
from infwidth.limits.sgd import train_module

F64 = torch.float64


def test_revealed_products_are_consistent():
    n = 200
    g = torch.Generator().manual_seed(0)
    w = LazyGaussianMatrix(n, 1 / math.sqrt(n), torch.Generator().manual_seed(1), F64, None)
    vs, zs = torch.randn(n, 5, generator=g, dtype=F64), torch.randn(n, 4, generator=g, dtype=F64)
    wv, wtz = w.matmul(vs), w.rmatmul(zs)
    assert torch.allclose(zs.T @ wv, wtz.T @ vs, atol=1e-12)  # z^T (W v) = (W^T z)^T v
    mix = torch.randn(5, 3, generator=g, dtype=F64)
    assert torch.allclose(w.matmul(vs @ mix), wv @ mix, atol=1e-12)  # linear on revealed directions
    assert torch.allclose(w.rmatmul(zs[:, :2]), wtz[:, :2], atol=1e-12)


def test_law_of_fresh_and_conditioned_products():
    """W v ~ N(0, s^2 |v|^2 I); given W^T z, E[z^T W v] = z^T (W^T z)... checked as second moments."""
    n, s = 64, 0.5
    v = torch.randn(n, 1, dtype=F64)
    z = torch.randn(n, 1, dtype=F64)
    a, b = [], []
    for seed in range(3000):
        w = LazyGaussianMatrix(n, s, torch.Generator().manual_seed(seed), F64, None)
        wtz = w.rmatmul(z)  # reveal something first, so the second product is a conditioned one
        wv = w.matmul(v)
        a.append(wv[:3, 0])
        b.append((wtz.T @ v).item())
    a = torch.stack(a)
    assert a.var(0).mean().item() == pytest.approx(s**2 * (v**2).sum().item(), rel=0.08)
    # z^T W v has variance s^2 |z|^2 |v|^2
    assert torch.tensor(b).var().item() == pytest.approx(s**2 * (z**2).sum().item() * (v**2).sum().item(), rel=0.08)


def test_simulator_equals_a_real_deep_network():
    g = torch.Generator().manual_seed(3)
    x, y, ex = (torch.randn(8, 3, generator=g, dtype=F64), torch.randn(8, 2, generator=g, dtype=F64),
                torch.randn(4, 3, generator=g, dtype=F64))
    lim = DeepLinearMupLimit(3, 2, 3, sigma_u=1.1, sigma_w=0.9, sigma_v=1.2)
    net = lim.sample(48, seed=1)
    sim = simulate_finite(lim, 48, 1, x, y, 0.3, 5, 4, ex, dense=net)
    real = train_module(net, x, y, 0.3, 5, 4, ex)
    assert torch.allclose(sim.f, real.f, rtol=1e-10, atol=1e-12)
    assert torch.allclose(sim.kernel, real.kernel, rtol=1e-10, atol=1e-12)


def test_lazy_simulation_matches_dense_networks_in_law():
    """Same width, many seeds: RMS gap to the limit agrees between lazy and dense finite nets."""
    g = torch.Generator().manual_seed(4)
    x, y, ex = (torch.randn(8, 2, generator=g, dtype=F64), torch.randn(8, 1, generator=g, dtype=F64),
                torch.randn(4, 2, generator=g, dtype=F64))
    lim = DeepLinearMupLimit(2, 1, 2)
    ref = lim.train(x, y, 0.2, 4, 4, ex)

    def rms(runs):
        return math.sqrt(sum(((r.f - ref.f) ** 2).mean().item() for r in runs) / len(runs))

    lazy = rms([lim.simulate(64, s, x, y, 0.2, 4, 4, ex) for s in range(60)])
    dense = rms([train_module(lim.sample(64, 1000 + s), x, y, 0.2, 4, 4, ex) for s in range(60)])
    assert lazy == pytest.approx(dense, rel=0.3)
