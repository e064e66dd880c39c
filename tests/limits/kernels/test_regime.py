"""The kernel a parametrization follows: its weights per layer, and finite AbcMLPs converging to it."""

from __future__ import annotations

import pytest
import torch

from infwidth.errors import UserError
from infwidth.limits.kernels import KernelSGD, mlp_kernels, regime_kernel, regime_kernel_fn
from infwidth.parametrizations.abc import mfp, mup, ntp, sp, up


def _x(n: int = 5, d: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_named_parametrizations_give_the_spec_kernels() -> None:
    x = _x()
    d = x.shape[1]
    full = {k: mlp_kernels(x, depth=3, nonlinearity="erf", layers={k}).ntk for k in range(1, 5)}
    k_ntp = regime_kernel(ntp(3), x, nonlinearity="erf")
    # AbcMLP's first layer has init sigma/sqrt(d) inside w, so its lr acts d times more than NT's
    torch.testing.assert_close(k_ntp.ntk, d * full[1] + full[2] + full[3] + full[4])
    torch.testing.assert_close(k_ntp.nngp, mlp_kernels(x, depth=3, nonlinearity="erf").nngp)
    k_sp = regime_kernel(sp(3, c=1), x, nonlinearity="erf")
    torch.testing.assert_close(k_sp.ntk, full[2] + full[3] + full[4])  # layers 2..L+1 only
    k_up = regime_kernel_fn(up("1/4", 3), d, nonlinearity="erf")
    assert k_up.f0 == "zero" and k_up.kernel == "ntk"
    assert torch.count_nonzero(k_up(x).nngp) == 0
    k_sp1 = regime_kernel_fn(sp(1, c=1), d)
    assert k_sp1.kernel == "nngp" and k_sp1.kernel_layers == (2,)


def test_sigma_enters_as_one_over_sigma_squared() -> None:
    x = _x()
    p = ntp(2).with_sigma([1.5, 0.8, 1.2])
    k = regime_kernel(p, x, nonlinearity="relu").ntk
    parts = [mlp_kernels(x, depth=2, w_std=[1.5, 0.8, 1.2], layers={i}).ntk for i in (1, 2, 3)]
    torch.testing.assert_close(k, 3 / 1.5**2 * parts[0] + parts[1] / 0.8**2 + parts[2] / 1.2**2)


def test_non_kernel_regimes_are_refused() -> None:
    for p in (mup(2), sp(2), mfp(1)):
        with pytest.raises(UserError, match="not the kernel regime"):
            regime_kernel(p, _x())


@pytest.mark.parametrize("p", [ntp(2).with_sigma([1.3, 0.9, 1.1]), sp(2, c=1)], ids=["ntp", "sp-c1"])
@pytest.mark.parametrize("bias", [False, True])
def test_one_finite_sgd_step_moves_f_by_the_regime_kernel(p, bias: bool) -> None:  # noqa: ANN001
    """At width 4096 one SGD step changes f by -lr K(x, x_b) L' with K the regime kernel (10%; O(n^{-1/2}) fluctuations)."""
    from infwidth.networks import AbcMLP

    x, xb = _x(4, seed=1), _x(3, seed=2)
    yb = torch.ones(3, 1, dtype=torch.float64)
    width, lr = 4096, 1e-3
    net = AbcMLP(p, width, 3, 1, nonlinearity="relu", bias=bias, bias_std=0.7, dtype=torch.float64, seed=0)
    before = net(x).detach()
    fb = net(xb)
    opt = net.sgd(lr)  # w <- w - lr n^{-c} grad; the function-space rate is lr itself
    loss = 0.5 * ((fb - yb) ** 2).sum(1).mean()
    loss.backward()
    opt.step()
    moved = net(x).detach() - before
    grad = (fb.detach() - yb) / 3
    k = regime_kernel_fn(p, 3, nonlinearity="relu", bias=bias, bias_std=0.7)(x, xb).ntk
    predicted = -lr * (k @ grad)
    assert torch.linalg.norm(moved - predicted) / torch.linalg.norm(predicted) < 0.1


def test_kernel_sgd_for_parametrization_picks_kernel_and_prior() -> None:
    x = _x(6)
    a = KernelSGD.for_parametrization(ntp(2), 3, lr=0.1, nonlinearity="erf", seed=1)
    b = KernelSGD.for_parametrization(up("1/4", 2), 3, lr=0.1, nonlinearity="erf")
    assert a.f0_kind == "gp" and torch.count_nonzero(a.f0(x)) == 6
    assert b.f0_kind == "zero" and torch.count_nonzero(b.f0(x)) == 0
    a.step(x, torch.ones(6, 1, dtype=torch.float64))
    moved = a.predict(x[:2]) - a.f0(x[:2])
    k = regime_kernel(ntp(2), x[:2], x, nonlinearity="erf").ntk
    torch.testing.assert_close(moved, -0.1 * k @ ((a.f0(x) - 1.0) / 6))
