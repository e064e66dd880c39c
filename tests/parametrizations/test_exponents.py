"""Predicted one-step scaling exponents: exact values on the named parametrizations, and
agreement with slopes measured on a small independent torch MLP (float64)."""

from fractions import Fraction as F

import pytest
from _onestep_mlp import measured_slopes

from infwidth.errors import UserError
from infwidth.parametrizations import (
    Parametrization,
    adam_exponents,
    layer_contribution_exponents,
    mfp,
    mup,
    ntp,
    predicted_exponents,
    sp,
    up,
)

H = F(1, 2)


def _changes(pe, L):
    return [pe[f"dh{i}"] for i in range(1, L + 1)] + [pe[f"dx{i}"] for i in range(1, L + 1)]


@pytest.mark.parametrize("L", [1, 2, 4])
def test_mup_everything_order_one(L):
    pe = predicted_exponents(mup(L))
    assert set(pe) == {f"{k}{i}" for k in ("h", "x", "dh", "dx") for i in range(1, L + 1)} | {"f", "df"}
    assert _changes(pe, L) == [0] * (2 * L) and pe["df"] == 0 and pe["f"] == -H
    assert predicted_exponents(mfp(1))["df"] == 0 and predicted_exponents(mfp(1))["dx1"] == 0


@pytest.mark.parametrize("L", [1, 3])
def test_ntp_features_move_like_n_to_minus_half(L):
    pe = predicted_exponents(ntp(L))
    assert _changes(pe, L) == [-H] * (2 * L) and pe["df"] == 0 and pe["f"] == 0


@pytest.mark.parametrize("L", [1, 3])
def test_up_quarter(L):
    pe = predicted_exponents(up("1/4", L))
    assert _changes(pe, L) == [F(-1, 4)] * (2 * L) and pe["df"] == 0 and pe["f"] == F(-1, 4)


def test_sp_small_lr_kernel_exponents():
    pe = predicted_exponents(sp(1, c=1))
    assert pe["dx1"] == F(-3, 2) and pe["df"] == 0
    pe = predicted_exponents(sp(3, c=1))
    assert pe["dx1"] == F(-3, 2) and pe["dx2"] == pe["dx3"] == -H and pe["df"] == 0
    assert layer_contribution_exponents(sp(3, c=1)) == {1: -1, 2: 0, 3: 0, 4: 0}
    assert layer_contribution_exponents(ntp(3)) == {1: 0, 2: 0, 3: 0, 4: 0}


def test_sp_step_one_blow_up_depends_on_depth_and_phi():
    # L = 1: the readout's own update moves f like n^1 whatever phi is
    for phi in ("relu", "tanh"):
        assert predicted_exponents(sp(1), phi=phi)["df"] == 1
        assert predicted_exponents(sp(1), phi=phi)["dx1"] == -H
    # L >= 2: the second layer's update blows up (n^{1/2}); ReLU passes it on, tanh saturates
    relu = predicted_exponents(sp(2), phi="relu")
    assert relu["dh2"] == H and relu["dx2"] == H and relu["df"] == F(3, 2)
    tanh = predicted_exponents(sp(2), phi="tanh")
    assert tanh["dh2"] == H and tanh["dx2"] == 0 and tanh["df"] == H
    assert predicted_exponents(sp(3), phi="relu")["df"] == 2
    assert predicted_exponents(sp(3), phi="tanh")["df"] == 1


def test_adam_exponents():
    assert adam_exponents(mup(3)) == (H, 1, 1, H)
    pe = predicted_exponents(mup(2), "adam")
    assert _changes(pe, 2) == [0] * 4 and pe["df"] == 0
    # TP5's muP: a = 0, init var 1/fan_in (output 1/fan_in^2), Adam rates (1, 1/n, 1/n)
    tp5 = Parametrization(a=(0, 0, 0), b=(0, H, 1), c=0)
    pe = predicted_exponents(tp5, "adam", adam_c=(0, 1, 1))
    assert _changes(pe, 2) == [0] * 4 and pe["df"] == 0
    pe = predicted_exponents(sp(2), "adam", adam_c=(1, 1, 1))
    assert pe["dx1"] == -1 and pe["dx2"] == 0 and pe["df"] == H  # logits blow up like n^{1/2}
    assert predicted_exponents(ntp(2), "adam")["dx2"] == -H


@pytest.mark.parametrize(
    "call, words",
    [(lambda: predicted_exponents(mup(2), "rmsprop"), "optimizer"),
     (lambda: predicted_exponents(mup(2), phi="swish"), "nonlinearity"),
     (lambda: predicted_exponents(mup(2), adam_c=(1, 1, 1)), "adam_c"),
     (lambda: predicted_exponents(mup(2), "adam", adam_c=(1, 1)), "one per layer"),
     (lambda: predicted_exponents(Parametrization(a=(0, 0), b=(1, 0), c=0)), "stable at initialization")],
)
def test_bad_requests(call, words):
    with pytest.raises(UserError, match=words):
        call()


# ---- measured on finite networks (widths 256..1024, 2 seeds; slopes within 0.15: the CLT noise of
# a 4-point log-log fit at these widths, seen to be < 0.08 with 3 seeds up to width 2048) ----------
FAST_CASES = [
    ("mup", mup(2), "relu", "sgd", None),
    ("ntp", ntp(2), "tanh", "sgd", None),
    ("sp c=0 L=1", sp(1), "relu", "sgd", None),
    ("sp c=1", sp(2, c=1), "relu", "sgd", None),
    ("mup adam", mup(2), "relu", "adam", adam_exponents(mup(2))),
    ("sp adam 1/n", sp(2), "tanh", "adam", (1, 1, 1)),
]


@pytest.mark.parametrize("label, p, phi, opt, rates", FAST_CASES, ids=[c[0] for c in FAST_CASES])
def test_measured_slopes_match(label, p, phi, opt, rates):
    pe = predicted_exponents(p, opt, rates, phi=phi)
    m = measured_slopes(p, widths=(256, 512, 1024), seeds=(0, 1), phi=phi, optimizer=opt, adam_c=rates,
                        lr=0.5 if opt == "sgd" else 0.05)
    for key in [k for k in pe if k.startswith("d")]:
        assert abs(m[key] - float(pe[key])) < 0.15, (label, key, m[key], pe[key])


SLOW_CASES = [
    ("sp c=0 L=2 relu", sp(2), "relu"),
    ("sp c=0 L=3 relu", sp(3), "relu"),
    ("sp c=0 L=2 tanh", sp(2), "tanh"),
    ("ntp L=3 relu", ntp(3), "relu"),
    ("mfp", mfp(1), "tanh"),
    ("up 1/4", up("1/4", 2), "tanh"),
]


@pytest.mark.slow
@pytest.mark.parametrize("label, p, phi", SLOW_CASES, ids=[c[0] for c in SLOW_CASES])
def test_measured_slopes_match_blow_ups(label, p, phi):
    pe = predicted_exponents(p, phi=phi)
    m = measured_slopes(p, widths=(256, 512, 1024, 2048, 4096), seeds=(0, 1, 2), phi=phi)
    for key in [k for k in pe if k.startswith("d")]:
        assert abs(m[key] - float(pe[key])) < 0.2, (label, key, m[key], pe[key])


def test_measured_layer_contributions():
    # training one layer alone: its NTK term survives (exponent 0) or vanishes (SP's first layer)
    p = sp(2, c=1)
    pred = layer_contribution_exponents(p)
    for layer, e in pred.items():
        m = measured_slopes(p, widths=(256, 512, 1024), seeds=(0, 1), train_only=layer)
        assert abs(m["df"] - float(e)) < 0.15, (layer, m["df"], e)
