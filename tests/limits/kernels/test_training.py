"""Function-space SGD against the closed-form MSE solution; losses, priors, state."""

from __future__ import annotations

import math

import pytest
import torch

from infwidth.errors import UserError
from infwidth.limits.kernels import KernelSGD, MLPKernel, mse_closed_form


def _task(n: int = 12, nt: int = 5, d: int = 3, seed: int = 0):  # noqa: ANN202
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + nt, d, generator=g, dtype=torch.float64)
    y = torch.sin(2 * x[:, :1]) + 0.5 * x[:, 1:2]
    return x[:n], y[:n], x[n:]


KERNEL = MLPKernel(depth=2, nonlinearity="erf", w_std=1.3, b_std=0.2)


@pytest.mark.parametrize("f0", ["zero", "gp"])
def test_full_batch_sgd_equals_discrete_closed_form(f0: str) -> None:
    x, y, xt = _task()
    sgd = KernelSGD(KERNEL, lr=0.7, f0=f0, seed=4)
    f0_train, f0_test = sgd.f0(x).clone(), sgd.f0(xt).clone()
    for _ in range(60):
        sgd.step(x, y)
    k = KERNEL(x).ntk
    train, test = mse_closed_form(k, y, lr=0.7, t=60, k_test_train=KERNEL(xt, x).ntk, f0_train=f0_train,
                                  f0_test=f0_test, discrete=True)
    torch.testing.assert_close(sgd.predict(x), train, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(sgd.predict(xt), test, rtol=1e-9, atol=1e-10)
    assert sgd.stored == x.shape[0]


def test_long_minibatch_sgd_reaches_kernel_regression() -> None:
    """Minibatch SGD for many epochs converges to the t = infinity closed form (kernel regression)."""
    x, y, xt = _task(n=8)
    sgd = KernelSGD(KERNEL, lr=1.0)
    g = torch.Generator().manual_seed(1)
    for _ in range(1500):
        idx = torch.randperm(8, generator=g)[:3]
        sgd.step(x[idx], y[idx])
    train, test = mse_closed_form(KERNEL(x).ntk, y, lr=1.0, t=math.inf, k_test_train=KERNEL(xt, x).ntk)
    torch.testing.assert_close(train, y)
    torch.testing.assert_close(sgd.predict(xt), test, rtol=1e-5, atol=1e-5)
    assert sgd.stored == 8  # the state is the distinct inputs, not every step's batch


def test_continuous_closed_form_limits() -> None:
    x, y, xt = _task()
    k, kt = KERNEL(x).ntk, KERNEL(xt, x).ntk
    tr0, te0 = mse_closed_form(k, y, lr=1.0, t=0, k_test_train=kt)
    assert torch.allclose(tr0, torch.zeros_like(y), atol=1e-12) and torch.allclose(te0, torch.zeros_like(te0))
    far = mse_closed_form(k, y, lr=1.0, t=1e9, k_test_train=kt)[1]
    inf = mse_closed_form(k, y, lr=1.0, t=math.inf, k_test_train=kt)[1]
    torch.testing.assert_close(far, inf, rtol=1e-6, atol=1e-6)
    # small steps of discrete GD follow gradient flow
    flow = mse_closed_form(k, y, lr=1.0, t=3.0, k_test_train=kt)[1]
    steps = mse_closed_form(k, y, lr=1e-3, t=3000, k_test_train=kt, discrete=True)[1]
    torch.testing.assert_close(steps, flow, rtol=2e-3, atol=2e-3)


def test_cross_entropy_builtin_equals_autograd_callable() -> None:
    x, _, xt = _task()
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    a = KernelSGD(KERNEL, lr=0.5, d_out=3, loss="cross_entropy")
    b = KernelSGD(KERNEL, lr=0.5, d_out=3, loss=lambda f, yy: torch.nn.functional.cross_entropy(f, yy))
    first = None
    for i in range(20):
        idx = torch.arange(4 * (i % 3), 4 * (i % 3) + 4)
        la = a.step(x[idx], labels[idx])
        b.step(x[idx], labels[idx])
        first = la if first is None else first
    torch.testing.assert_close(a.predict(xt), b.predict(xt), rtol=1e-12, atol=1e-12)
    assert a.step(x, labels) < first


def test_gp_prior_is_consistent_and_has_the_nngp_covariance() -> None:
    x, _, _ = _task(n=3)
    kern = MLPKernel(depth=1, nonlinearity="relu")
    sgd = KernelSGD(kern, lr=1.0, f0="gp", seed=0)
    a = sgd.f0(x[:2]).clone()
    b = sgd.f0(x).clone()
    assert torch.equal(a, b[:2])  # points asked again keep their values
    draws = torch.stack([KernelSGD(kern, lr=1.0, f0="gp", d_out=50, seed=s).f0(x) for s in range(40)])
    samples = draws.permute(0, 2, 1).reshape(-1, 3)  # 2000 draws of f_0 at 3 points
    emp = samples.T @ samples / samples.shape[0]
    ref = kern(x).nngp
    assert torch.linalg.norm(emp - ref) / torch.linalg.norm(ref) < 0.1


def test_state_dict_resumes_exactly() -> None:
    x, y, xt = _task()
    a = KernelSGD(KERNEL, lr=0.5, f0="gp", seed=2)
    for i in range(5):
        a.step(x[i : i + 3], y[i : i + 3])
    b = KernelSGD(KERNEL, lr=0.5, f0="gp", seed=99)
    b.load_state_dict(a.state_dict())
    for i in range(5, 9):
        a.step(x[i : i + 3], y[i : i + 3])
        b.step(x[i : i + 3], y[i : i + 3])
    torch.testing.assert_close(a.predict(xt), b.predict(xt), rtol=0, atol=0)


def test_bad_training_input() -> None:
    x, y, _ = _task()
    with pytest.raises(UserError, match="lr"):
        KernelSGD(KERNEL, lr=-1.0)
    with pytest.raises(UserError, match="unknown loss"):
        KernelSGD(KERNEL, lr=1.0, loss="hinge")
    with pytest.raises(UserError, match="d_out"):
        KernelSGD(KERNEL, lr=1.0, loss="cross_entropy")
    sgd = KernelSGD(KERNEL, lr=1.0, d_out=2)
    with pytest.raises(UserError, match="targets"):
        sgd.step(x, y)
    with pytest.raises(UserError, match="features"):
        sgd.step(x, torch.zeros(12, 2, dtype=torch.float64))
        sgd.predict(torch.zeros(2, 5))
    with pytest.raises(UserError, match="non-finite"):
        KernelSGD(KERNEL, lr=1e6).step(x, y * 1e200)
