"""The practical (mup / TP5) form computes exactly the abc form's function at every step: the symmetry."""

from fractions import Fraction

import pytest
import torch

from infwidth.errors import UserError
from infwidth.networks import AbcMLP, PracticalMLP, practical_shifts, to_abc, to_practical
from infwidth.parametrizations import mup, ntp, sp, up

PRESETS = [mup(3), sp(2), sp(2, c=1), ntp(2), up("1/4", 2)]


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def train_pair(p, optimizer, bias, steps=4, n=128):
    abc = AbcMLP(p, n, 6, 3, bias=bias, dtype=torch.float64, seed=11)
    prac = PracticalMLP(p, n, 6, 3, bias=bias, dtype=torch.float64, seed=11)
    x = torch.randn(8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 3
    opts = [net.sgd(0.2) if optimizer == "sgd" else net.adam(0.01) for net in (abc, prac)]
    errors = []
    for _ in range(steps):
        outs = [abc(x), prac(x)]
        errors.append(rel_err(outs[1], outs[0]))
        for opt, f in zip(opts, outs, strict=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(f, y).backward()
            opt.step()
    errors.append(rel_err(prac(x), abc(x)))
    return abc, prac, errors


@pytest.mark.parametrize("p", PRESETS, ids=lambda p: f"{p.name}-c{p.c}")
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("bias", [False, True])
def test_forms_agree_at_every_step(p, optimizer, bias):
    abc, prac, errors = train_pair(p, optimizer, bias)
    assert max(errors) < 1e-10, errors
    # the function moved (otherwise agreement would be vacuous)
    x = torch.randn(4, 6, dtype=torch.float64)
    fresh = AbcMLP(p, abc.width, 6, 3, bias=bias, dtype=torch.float64, seed=11)
    assert rel_err(abc(x), fresh(x)) > 1e-6


def test_forms_differ_in_their_tensors():
    # same function, different trained tensors: readout w' = n^{b_{L+1}} w (width-independent init)
    p, n = mup(2), 1024
    abc = AbcMLP(p, n, 5, 2, seed=1, dtype=torch.float64)
    prac = PracticalMLP(p, n, 5, 2, seed=1, dtype=torch.float64)
    assert prac.w3.std().item() == pytest.approx(1.0, rel=0.05)
    torch.testing.assert_close(prac.w3, abc.w3 * n**0.5)
    torch.testing.assert_close(prac.w1, abc.w1 * n**0.5)  # multiplier n^{1/2} folded in


def test_mup_practical_rates_match_tp5_table():
    # Tensor Programs V: input SGD rate fan_out, hidden 1, readout fan_in and multiplier 1/fan_in;
    # Adam rates 1, 1/fan_in, 1; hidden biases like inputs.
    n, eta = 512, 0.1
    net = PracticalMLP(mup(2), n, 7, 3, bias=True)
    sgd = {g["name"]: g["lr"] for g in net.sgd(eta).param_groups}
    adam = {g["name"]: g["lr"] for g in net.adam(eta).param_groups}
    assert sgd == pytest.approx({"w1": eta * n, "b1": eta * n, "w2": eta, "b2": eta * n, "w3": eta * n, "b3": eta})
    assert adam == pytest.approx({"w1": eta, "b1": eta, "w2": eta / n, "b2": eta, "w3": eta, "b3": eta})
    mults = [s.multiplier for s in net.weight_scales]
    assert mults == pytest.approx([1.0, 1.0, 1.0 / n])
    assert practical_shifts(mup(2))[0] == [Fraction(1, 2), 0, Fraction(1, 2)]


@pytest.mark.parametrize("p", PRESETS, ids=lambda p: f"{p.name}-c{p.c}")
def test_conversion_round_trip(p):
    net = AbcMLP(p, 128, 4, 2, bias=True, dtype=torch.float64, seed=3)
    x = torch.randn(5, 4, dtype=torch.float64)
    prac = to_practical(net)
    assert isinstance(prac, PracticalMLP)
    assert rel_err(prac(x), net(x)) < 1e-12
    back = to_abc(prac)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v, rtol=1e-13, atol=0)
    with pytest.raises(UserError):
        to_abc(net)  # type: ignore[arg-type]


def test_converted_net_trains_identically():
    p = mup(2)
    net = AbcMLP(p, 200, 4, 2, dtype=torch.float64, seed=5)
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    prac = to_practical(net)
    for model in (net, prac):
        opt = model.sgd(0.5)
        for _ in range(3):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    assert rel_err(prac(x), net(x)) < 1e-10
