"""One description, every view: ``p.mlp(n, ...)`` trained by ``net.sgd(lr)`` approaches ``p.feature_learning_limit``."""

import pytest
import torch

import infwidth as iw
from infwidth.errors import UserError
from infwidth.limits.sgd import batch_indices, mse


def _task(d_in: int = 2, n: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    ex = torch.randn(3, d_in, generator=g, dtype=torch.float64)
    return x, y, ex


def _finite_outputs(p, width, nonlinearity, x, y, ex, lr, steps, batch, seed):
    net = p.mlp(width, x.shape[1], 1, nonlinearity=nonlinearity, dtype=torch.float64, seed=seed)
    opt = net.sgd(lr)
    for t in range(steps):
        idx = batch_indices(t, batch, x.shape[0])
        opt.zero_grad()
        mse(net(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        return net(ex)


@pytest.mark.parametrize(
    ("p", "nonlinearity", "rel_tol"),
    [(iw.mup(1), "tanh", 0.06), (iw.mfp(), "tanh", 0.06), (iw.mup(2), "identity", 0.15)],
    ids=["mup1-tanh", "mfp-tanh", "mup2-identity"],
)
def test_finite_nets_approach_the_limit_of_the_same_description(p, nonlinearity, rel_tol):
    x, y, ex = _task()
    lr, steps, batch = 0.5, 4, 2
    limit = p.feature_learning_limit(x.shape[1], 1, nonlinearity)
    f_inf = limit.train(x, y, lr=lr, steps=steps, batch=batch, eval_x=ex).f[-1]
    gaps = {}
    for width in (256, 4096):
        outs = [_finite_outputs(p, width, nonlinearity, x, y, ex, lr, steps, batch, s) for s in range(4)]
        gaps[width] = torch.stack([(o - f_inf).abs().mean() for o in outs]).mean().item()
    # O(n^{-1/2}) gap: a 16x wider net should be ~4x closer; allow seed noise down to 2x. At width
    # 4096 the mean gap over 4 seeds is within rel_tol of |f| (measured: 1-hidden tanh ~2%, deep
    # linear ~12%: products of random matrices fluctuate more), so a convention mismatch (a
    # constant gap) fails.
    assert gaps[4096] < gaps[256] / 2, gaps
    assert gaps[4096] < rel_tol * f_inf.abs().mean().item(), (gaps, f_inf)


def test_kernel_limit_from_the_same_description():
    x = torch.randn(5, 3, dtype=torch.float64)
    ntk = iw.ntp(2).kernel_limit(3, nonlinearity="relu")
    assert (ntk.kernel, ntk.kernel_layers, ntk.f0) == ("ntk", (1, 2, 3), "gp")
    partial = iw.sp(2, c=1).kernel_limit(3, nonlinearity="relu")
    assert (partial.kernel, partial.kernel_layers) == ("partial-ntk", (2, 3))
    k = ntk(x).ntk
    assert torch.allclose(k, k.T) and torch.linalg.eigvalsh(k).min() > 0
    # dropping the first layer's NTK term makes the kernel strictly smaller on the diagonal
    assert (partial(x).ntk.diagonal() < k.diagonal()).all()


def test_limits_refuse_the_wrong_regime():
    with pytest.raises(UserError, match="kernel regime"):
        iw.ntp(1).feature_learning_limit(3, 1, "relu")
    with pytest.raises(UserError, match="not the kernel regime"):
        iw.mup(1).kernel_limit(3)
    with pytest.raises(UserError, match="named nonlinearity"):
        iw.mup(2).feature_learning_limit(3, 1, torch.tanh)


def test_deep_nonlinear_limits_come_from_the_tensor_program_engine():
    from infwidth.limits.feature_learning.tp_mlp import TensorProgramMupLimit

    lim = iw.mup(2).feature_learning_limit(3, 1, "relu")
    assert isinstance(lim, TensorProgramMupLimit)
    assert isinstance(iw.mup(1).feature_learning_limit(3, 1, "tanh", engine="tensor_program"), TensorProgramMupLimit)
