"""The deep-linear muP limit by Tensor-Program bookkeeping: reductions and wide finite networks."""

import math

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit
from infwidth.limits.feature_learning.linear import LinearMupLimit
from infwidth.limits.sgd import train_module

F64 = torch.float64


def _data(seed=0, d=3, d_o=2):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(8, d, generator=g, dtype=F64), torch.randn(8, d_o, generator=g, dtype=F64),
            torch.randn(4, d, generator=g, dtype=F64))


def test_one_hidden_layer_is_the_exact_linear_limit():
    x, y, ex = _data()
    deep = DeepLinearMupLimit(3, 2, depth=1, sigma_u=1.2, sigma_v=0.7).train(x, y, 0.3, 6, 4, ex)
    ref = train_module(LinearMupLimit(3, 2, sigma_u=1.2, sigma_v=0.7), x, y, 0.3, 6, 4, ex)
    assert torch.allclose(deep.f, ref.f, atol=1e-13)
    assert torch.allclose(deep.kernel, ref.kernel, atol=1e-12)


def test_initial_kernel_closed_form():
    """At t = 0, <x^L(a)|x^L(b)> = sigma_u^2 sigma_w^{2(L-1)} a.b and f_0 = 0 for every depth."""
    x, y, ex = _data(seed=1)
    for depth in (2, 3):
        run = DeepLinearMupLimit(3, 2, depth, sigma_u=1.1, sigma_w=0.9).train(x, y, 0.3, 2, 4, ex)
        k0 = 1.1**2 * 0.9 ** (2 * (depth - 1)) * ex @ ex.T
        assert torch.allclose(run.kernel[0], k0, atol=1e-12)
        assert run.f[0].abs().max() < 1e-14
        # feature learning: the limit's features move by Theta(1) within two steps
        assert (run.kernel[2] - run.kernel[0]).abs().max() > 0.1


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_first_step_closed_form(depth):
    """From f_0 = 0 one step gives f_1(xi) = -eta sum_i chi_i Theta(xi, xi_i) with every layer adding
    one term: Theta / <xi, xi_i> = sv^2 sw^{2(L-1)} + (L-1) su^2 sv^2 sw^{2(L-2)} + su^2 sw^{2(L-1)}.
    For L >= 2 the first layer's term reaches f only through Zdot, so this checks it."""
    g = torch.Generator().manual_seed(0)
    x, y, ex = (torch.randn(s, generator=g, dtype=F64) for s in ((3, 3), (3, 1), (4, 3)))
    su, sw, sv, eta = 1.3, 0.8, 0.6, 0.37
    run = DeepLinearMupLimit(3, 1, depth, su, sw, sv).train(x, y, eta, 1, 3, ex)
    theta = sv**2 * sw ** (2 * (depth - 1)) + (depth - 1) * su**2 * sv**2 * sw ** (2 * (depth - 2)) + su**2 * sw ** (2 * (depth - 1))
    chi = -y / 3  # mean squared error over the batch of 3, f_0 = 0
    assert torch.allclose(run.f[1], -eta * theta * (ex @ x.T) @ chi, atol=1e-14)


@pytest.mark.parametrize("depth", [2, 3])
def test_wide_finite_networks_converge_to_the_limit(depth):
    x, y, ex = _data(seed=2)
    lim = DeepLinearMupLimit(3, 2, depth)
    ref = lim.train(x, y, 0.3, 4, 4, ex)
    widths, errs = [32, 128, 512], []
    for n in widths:
        sq = [((train_module(lim.sample(n, s), x, y, 0.3, 4, 4, ex).f - ref.f) ** 2).mean().item()
              for s in range(12)]
        errs.append(math.sqrt(np.mean(sq)))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -0.75 <= slope <= -0.3, (slope, errs)
    assert errs[-1] < 0.1 * (ref.f[-1] - ref.f[0]).abs().max()


def test_bad_inputs():
    x, y, ex = _data()
    with pytest.raises(UserError, match="depth"):
        DeepLinearMupLimit(3, 2, depth=0)
    with pytest.raises(UserError, match="d_out=2"):
        DeepLinearMupLimit(3, 2, 2).train(x, y[:, :1].repeat(1, 3), 0.1, 2, 2, ex)
    with pytest.raises(UserError, match="width"):
        DeepLinearMupLimit(3, 2, 2).sample(0, 0)
