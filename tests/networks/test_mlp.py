"""AbcMLP: the forward pass, init scales and optimizer rates are exactly those of the abc-parametrization."""

from fractions import Fraction

import pytest
import torch

from infwidth.errors import UserError
from infwidth.networks import AbcMLP, abc_adam_exponents
from infwidth.parametrizations import from_exponents, mup, ntp, sp, up


def manual_forward(p, net, x, phi=torch.relu):
    """h^l = n^{-a_l} w^l x^{k-1} (+ bias), written out independently of the module."""
    n = net.width
    for k in range(1, p.depth + 2):
        h = n ** (-float(p.a[k - 1])) * x @ getattr(net, f"w{k}").T
        if hasattr(net, f"b{k}"):
            a_bias = p.a[0] if k <= p.depth else p.a[-1] - Fraction(1, 2)
            h = h + n ** (-float(a_bias)) * getattr(net, f"b{k}")
        x = phi(h) if k <= p.depth else h
    return x


@pytest.mark.parametrize("p", [mup(3), sp(2), ntp(2), up("1/4", 2)], ids=lambda p: p.name)
@pytest.mark.parametrize("bias", [False, True])
def test_forward_applies_multipliers(p, bias):
    net = AbcMLP(p, 64, 7, 3, bias=bias, dtype=torch.float64, seed=1)
    x = torch.randn(5, 7, dtype=torch.float64)
    f, acts = net.forward_with_activations(x)
    torch.testing.assert_close(f, manual_forward(p, net, x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net(x), f, rtol=0, atol=0)
    assert sorted(acts) == sorted([f"{s}{k}" for s in "hx" for k in range(1, p.depth + 1)])


def test_init_std_is_sigma_n_minus_b():
    n, d = 2048, 16
    p = from_exponents(a=[0, 0, 0], b=[0, "1/2", 1], c=0, sigma=[2.0, 1.5, 0.5])
    net = AbcMLP(p, n, d, 4000, seed=0, dtype=torch.float64)
    expected = [2.0 / d**0.5, 1.5 * n**-0.5, 0.5 / n]
    for k, std in enumerate(expected, 1):
        got = getattr(net, f"w{k}").std().item()
        assert got == pytest.approx(std, rel=0.02)  # >= 32k entries each: sampling error < 1%


def test_seed_reproducible_and_distinct():
    p = mup(2)
    a, b, c = (AbcMLP(p, 32, 3, 2, seed=s) for s in (5, 5, 6))
    assert torch.equal(a.w2, b.w2) and not torch.equal(a.w2, c.w2)


def test_state_dict_round_trip_and_dtype():
    p = ntp(2)
    net = AbcMLP(p, 32, 3, 2, bias=True, seed=0, dtype=torch.float64)
    other = AbcMLP(p, 32, 3, 2, bias=True, seed=9, dtype=torch.float64)
    other.load_state_dict(net.state_dict())
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.equal(net(x), other(x))
    assert set(net.state_dict()) == {"w1", "w2", "w3", "b1", "b2", "b3"}
    assert net.w1.dtype == torch.float64
    assert AbcMLP(p, 8, 3, 2).w1.dtype == torch.float32


def test_sgd_rates_are_lr_n_minus_c():
    p = sp(2, c=1)
    net = AbcMLP(p, 100, 3, 2, bias=True)
    opt = net.sgd(0.5)
    assert [g["name"] for g in opt.param_groups] == ["w1", "b1", "w2", "b2", "w3", "b3"]
    assert all(g["lr"] == pytest.approx(0.5 / 100) for g in opt.param_groups)


def test_sgd_step_is_eta_n_minus_c_grad():
    p = mup(2)
    net = AbcMLP(p, 64, 3, 2, dtype=torch.float64, seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    loss = ((net(x) - y) ** 2).sum()
    loss.backward()
    grads = {k: getattr(net, k).grad.clone() for k in before}
    net.sgd(0.3).step()
    for k in before:
        torch.testing.assert_close(getattr(net, k).detach(), before[k] - 0.3 * grads[k], rtol=1e-14, atol=1e-14)


def test_adam_rates_follow_mup_table():
    # muP (Table 3 form) under Adam: effective steps on W^l are n^0, n^-1, n^-1 (Tensor Programs V's table)
    p = mup(2)
    c = abc_adam_exponents(p)
    effective = [cl + a for cl, a in zip(c, p.a, strict=True)]
    assert effective == [0, 1, 1]
    n = 256
    opt = AbcMLP(p, n, 3, 2).adam(0.01)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 * n ** -float(x) for x in c])


def test_nonlinearities_and_callable():
    p = mup(1)
    x = torch.randn(3, 4, dtype=torch.float64)
    for name, phi in [("tanh", torch.tanh), ("identity", lambda t: t), ("gelu", torch.nn.functional.gelu)]:
        net = AbcMLP(p, 16, 4, 1, nonlinearity=name, seed=0, dtype=torch.float64)
        torch.testing.assert_close(net(x), manual_forward(p, net, x, phi))
    net = AbcMLP(p, 16, 4, 1, nonlinearity=torch.sin, seed=0, dtype=torch.float64)
    torch.testing.assert_close(net(x), manual_forward(p, net, x, torch.sin))


@pytest.mark.parametrize(
    "kwargs",
    [dict(width=0), dict(width=2.5), dict(nonlinearity="swish"), dict(d_in=0), dict(bias_std=-1.0)],
)
def test_bad_arguments_raise_user_error(kwargs):
    args = dict(p=mup(1), width=8, d_in=3, d_out=2) | kwargs
    with pytest.raises(UserError):
        AbcMLP(**args)
    with pytest.raises(UserError):
        AbcMLP(mup(1), 8, 3, 2).sgd(0.0)


def test_parametrization_mlp_builds_abc_mlp():
    net = mup(2).mlp(32, 3, 2, seed=0)
    assert isinstance(net, AbcMLP) and net.width == 32


@pytest.mark.parametrize("bias", [False, True])
def test_traces_as_one_graph_under_torch_compile(bias):
    # fullgraph=True fails on any graph break; aot_eager skips the (slow) C++ code generation
    net = AbcMLP(mup(2), 32, 5, 3, bias=bias, seed=0)
    x = torch.randn(4, 5)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), net(x))
    compiled(x).sum().backward()
    assert net.w1.grad is not None


@pytest.mark.slow
def test_inductor_compile_matches_eager():
    net = AbcMLP(ntp(2), 64, 5, 3, seed=0)
    x = torch.randn(4, 5)
    torch.testing.assert_close(torch.compile(net)(x), net(x), rtol=1e-5, atol=1e-6)


def test_moves_to_device_and_dtype():
    net = AbcMLP(mup(1), 16, 3, 2, seed=0).to(torch.float64)
    assert net(torch.randn(2, 3, dtype=torch.float64)).dtype == torch.float64
    meta = AbcMLP(mup(1), 16, 3, 2, seed=0, device="meta")
    assert meta.w1.device.type == "meta"


def test_adam_with_explicit_exponents():
    n = 64
    opt = AbcMLP(sp(2), n, 3, 2, bias=True).adam(0.5, exponents=(1, "1/2", 0))
    rates = {g["name"]: g["lr"] for g in opt.param_groups}
    assert rates == pytest.approx({"w1": 0.5 / n, "b1": 0.5 / n, "w2": 0.5 / 8, "b2": 0.5 / 8, "w3": 0.5, "b3": 0.5})
    with pytest.raises(UserError):
        AbcMLP(sp(2), n, 3, 2).adam(0.5, exponents=(1, 1))
