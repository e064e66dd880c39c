"""The exact linear muP limit: closed scalar recursion, exact finite simulator, muP equivalence, rate."""

import math

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.limits.feature_learning.linear import LinearMupLimit

F64 = torch.float64


def _data(n_points, d, d_o, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_points, d, generator=g, dtype=F64)
    y = torch.randn(n_points, d_o, generator=g, dtype=F64)
    return x, y


def _train(model, x, y, lr, steps, batch, loss="mse"):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for t in range(steps):
        idx = torch.arange(t * batch, (t + 1) * batch) % x.shape[0]
        out = model(x[idx])
        if loss == "mse":
            value = 0.5 * ((out - y[idx]) ** 2).sum(-1).mean()
        else:
            value = torch.nn.functional.cross_entropy(out, y[idx].argmax(-1))
        opt.zero_grad()
        value.backward()
        opt.step()
    return model


def test_scalar_case_matches_closed_recursion():
    xs = [0.7, -1.3, 0.4, 2.0, -0.5, 1.1]
    ys = [1.0, -0.5, 0.3, 0.8, -1.2, 0.1]
    a, b, c, d = 1.0, 0.0, 0.0, 1.0  # the paper's scalar case: A_0 = D_0 = 1, B_0 = C_0 = 0, rate 1
    lim = LinearMupLimit(1, 1)
    opt = torch.optim.SGD(lim.parameters(), lr=1.0)
    for xi, y in zip(xs, ys, strict=True):
        f = (a * c + b * d) * xi
        chi = f - y  # L = (f - y)^2 / 2
        a, b, c, d = a - chi * xi * c, b - chi * xi * d, c - chi * xi * a, d - chi * xi * b
        out = lim(torch.tensor([[xi]], dtype=F64))
        assert out.item() == pytest.approx(f, abs=1e-15)
        opt.zero_grad()
        (0.5 * (out - y) ** 2).sum().backward()
        opt.step()
    got = [lim.A[0, 0].item(), lim.A[1, 0].item(), lim.C[0, 0].item(), lim.C[0, 1].item()]
    assert got == pytest.approx([a, b, c, d], abs=1e-13)


@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("alpha", [None, 0.7])
def test_simulator_equals_finite_network(loss, alpha):
    x, y = _data(12, 3, 4, seed=1)
    for width in (2, 37, 512):  # below and above k = 7
        lim = LinearMupLimit(3, 4, sigma_u=1.3, sigma_v=0.6, alpha=alpha)
        net = _train(lim.sample(width, seed=5), x, y, lr=0.3, steps=9, batch=4, loss=loss)
        sim = _train(lim.simulate(width, seed=5), x, y, lr=0.3, steps=9, batch=4, loss=loss)
        test = torch.randn(6, 3, dtype=F64)
        assert torch.allclose(net(test), sim(test), rtol=1e-11, atol=1e-12)
        kn = net.features(test) @ net.features(test).T
        ks = sim.features(test) @ sim.features(test).T
        assert torch.allclose(kn, ks, rtol=1e-11, atol=1e-12)
        # the limit itself is different at finite width (else the test above could not fail)
        assert not torch.allclose(_train(lim, x, y, 0.3, 9, 4, loss)(test), net(test), atol=1e-6)


def test_coupled_net_is_mup_with_per_layer_rescaling():
    """W1' = sqrt(n) W1 at lr eta n and W2' = W2 / sqrt(n) at lr eta / n give the same outputs."""
    x, y = _data(8, 2, 1, seed=2)
    n, lr = 256, 0.2
    net = LinearMupLimit(2, 1).sample(n, seed=3)
    w1 = (net.W1.detach() * math.sqrt(n)).requires_grad_()
    w2 = (net.W2.detach() / math.sqrt(n)).requires_grad_()
    assert w1.std().item() == pytest.approx(1.0, rel=0.1)  # muP: N(0, 1) input weights
    assert (w2.std() * n).item() == pytest.approx(1.0, rel=0.2)  # muP: N(0, 1/n^2) readout
    opt = torch.optim.SGD([{"params": [w1], "lr": lr * n}, {"params": [w2], "lr": lr / n}])
    _train(net, x, y, lr, steps=10, batch=2)
    for t in range(10):
        idx = torch.arange(2 * t, 2 * t + 2) % 8
        value = 0.5 * ((x[idx] @ w1.T @ w2.T - y[idx]) ** 2).sum(-1).mean()
        opt.zero_grad()
        value.backward()
        opt.step()
    assert torch.allclose(net(x), x @ w1.T @ w2.T, rtol=1e-10, atol=1e-12)


def test_finite_nets_approach_limit_like_inverse_sqrt_width():
    x, y = _data(6, 2, 1, seed=3)
    test = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(9))
    lim = _train(LinearMupLimit(2, 1, alpha=1.0), x, y, 0.5, 8, 3)
    widths = [2**p for p in range(4, 15)]
    errs = []
    for n in widths:
        per_seed = []
        for seed in range(24):
            sim = _train(LinearMupLimit(2, 1, alpha=1.0).simulate(n, seed, method="wishart"), x, y, 0.5, 8, 3)
            per_seed.append(((sim(test) - lim(test)) ** 2).mean().item())
        errs.append(math.sqrt(np.mean(per_seed)))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    print("slope", slope)
    assert -0.6 <= slope <= -0.4, slope


def test_wishart_root_has_the_right_law():
    lim = LinearMupLimit(2, 1)
    n = 50
    gs = []
    for seed in range(2000):
        r = lim.simulate(n, seed, method="wishart").A.detach()  # R A_0 = sigma_u R[:, :2]
        gs.append(r.T @ r)  # the 2x2 block of G
    g = torch.stack(gs)
    assert torch.allclose(g.mean(0), torch.eye(2, dtype=F64), atol=0.03)
    assert g[:, 0, 0].var().item() == pytest.approx(2 / n, rel=0.15)  # Var of chi^2_n / n
    assert g[:, 0, 1].var().item() == pytest.approx(1 / n, rel=0.15)


def test_functional_call_inner_step():
    """MAML-style use: one functional SGD step on the parameters of the limit and of a sample."""
    x, y = _data(5, 3, 2, seed=4)
    for model in (LinearMupLimit(3, 2, alpha=1.0), LinearMupLimit(3, 2, alpha=1.0).sample(64, 0)):
        params = dict(model.named_parameters())
        loss = ((torch.func.functional_call(model, params, (x,)) - y) ** 2).mean()
        grads = torch.autograd.grad(loss, list(params.values()))
        stepped = {k: p - 0.1 * g for (k, p), g in zip(params.items(), grads, strict=True)}
        stepped = {k: v.detach() for k, v in stepped.items()}
        _train(model, x, y, lr=0.1, steps=1, batch=5, loss="mse")  # 0.5 * sum over d_o=2 = mean
        for name, p in model.named_parameters():
            assert torch.allclose(p.detach(), stepped[name], rtol=1e-13, atol=1e-15)
        assert all(g.abs().max() > 0 for g in grads[1:])  # the step moved C / W2


def test_bad_inputs_are_one_line_errors():
    lim = LinearMupLimit(3, 2)
    with pytest.raises(UserError, match="d_in=3"):
        lim(torch.zeros(4, 5, dtype=F64))
    with pytest.raises(UserError, match="`width` must be"):
        lim.sample(0, seed=0)
    with pytest.raises(UserError, match="d_in"):
        LinearMupLimit(0, 2)
    with pytest.raises(UserError, match="width >= "):
        lim.simulate(3, seed=0, method="wishart")
    with pytest.raises(UserError, match="d_in=3"):
        lim.sample(8, 0)(torch.zeros(2, 2, dtype=F64))
