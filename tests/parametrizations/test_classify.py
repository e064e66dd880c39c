"""Exact classification against the paper's table (Tensor Programs IV's classification and table) and its finer outputs."""

import json
from fractions import Fraction as F

import pytest

from infwidth.errors import UserError
from infwidth.parametrizations import (
    Parametrization,
    classify,
    mfp,
    mup,
    named_table,
    named_table_markdown,
    ntp,
    preset,
    sp,
    surviving_ntk_layers,
    up,
)

H = F(1, 2)
CLI_KEYS = {"depth", "r", "r_l", "stable", "nontrivial", "regime", "updated_maximally",
            "readout_initialized_maximally"}


# ---- the paper's table, row by row ------------------------------------------------------------------
@pytest.mark.parametrize("L", [2, 3, 5])
def test_sp_is_unstable_with_r_minus_one(L):
    c = classify(sp(L))
    assert c.r == -1 and c.regime == "unstable" and not c.stable
    assert c.nontrivial is None and c.updated_maximally is None and c.readout_initialized_maximally is None
    names = {f.requirement: f for f in c.failures}
    # logits grow like n^{1-c} through the readout's own update
    assert names["2a_{L+1} + c >= 1"].actual == 0 and names["2a_{L+1} + c >= 1"].by == 1
    assert names["r >= 0"].by == 1


def test_sp_at_depth_one_has_r_zero_but_is_unstable():
    c = classify(sp(1))
    assert c.r == 0 and c.regime == "unstable"
    assert [f.requirement for f in c.failures] == ["2a_{L+1} + c >= 1", "a_{L+1} + b_{L+1} + r >= 1"]


@pytest.mark.parametrize("c_value", ["1/2", "3/4", "0.9"])
def test_sp_logits_grow_like_n_to_one_minus_c(c_value):
    cl = classify(sp(2, c=c_value))
    f = next(f for f in cl.failures if f.requirement == "2a_{L+1} + c >= 1")
    assert f.by == 1 - F(c_value) and f"n^{1 - F(c_value)}" in f.effect


def test_sp_small_lr_depth_one_r_three_halves_nngp():
    c = classify(sp(1, c=1))
    assert c.r == F(3, 2) and c.r_l == (F(3, 2),)
    assert c.regime == "kernel" and c.kernel == "nngp" and c.kernel_layers == (2,)
    assert c.updated_maximally == (False, True) and c.readout_initialized_maximally is False


@pytest.mark.parametrize("L", [2, 3, 4])
def test_sp_small_lr_is_a_partial_ntk_without_the_first_layer(L):
    c = classify(sp(L, c=1))
    assert c.r == H and c.r_l == (F(3, 2),) + (H,) * (L - 1)
    assert c.regime == "kernel" and c.kernel == "partial-ntk"
    assert c.kernel_layers == tuple(range(2, L + 2))
    assert not c.f0_vanishes


@pytest.mark.parametrize("L", [1, 2, 4])
def test_ntp_is_the_ntk(L):
    c = classify(ntp(L))
    assert c.r == H and c.regime == "kernel" and c.kernel == "ntk"
    assert c.kernel_layers == tuple(range(1, L + 2)) and not c.f0_vanishes
    assert c.readout_initialized_maximally is True


def test_mfp_feature_learning():
    c = classify(mfp(1))
    assert c.r == 0 and c.regime == "feature-learning" and c.f0_vanishes
    assert c.updated_maximally == (True, True) and c.readout_initialized_maximally


@pytest.mark.parametrize("L", [1, 2, 3, 6])
def test_mup_updates_every_layer_maximally(L):
    c = classify(mup(L))
    assert c.r == 0 and c.r_l == (0,) * L and c.regime == "feature-learning"
    assert c.updated_maximally == (True,) * (L + 1) and c.readout_initialized_maximally
    assert c.feature_learning_layers == tuple(range(1, L + 1))
    assert c.kernel is None and c.kernel_layers is None and c.f0_vanishes
    assert "muP" in c.explanation


@pytest.mark.parametrize("s", ["1/8", "1/4", "0.3", "1/2"])
@pytest.mark.parametrize("L", [1, 3])
def test_up_s_has_r_equal_s(s, L):
    c = classify(up(s, L))
    assert c.r == F(s) and c.regime == "kernel" and c.kernel == "ntk"
    assert c.f0_vanishes == (F(s) < H)


def test_up_zero_is_mup_and_up_half_is_ntp_in_every_output():
    for L in (1, 3):
        a, b = classify(up(0, L)).as_dict(), classify(mup(L)).as_dict()
        assert {k: v for k, v in a.items() if k != "parametrization"} == {
            k: v for k, v in b.items() if k != "parametrization"}
        a, b = classify(up(H, L)).as_dict(), classify(ntp(L)).as_dict()
        assert {k: v for k, v in a.items() if k != "parametrization"} == {
            k: v for k, v in b.items() if k != "parametrization"}


@pytest.mark.parametrize("L", [1, 3])
def test_named_table_as_computed(L):
    rows = {r["name"]: r for r in named_table(L)}
    assert rows["SP"]["r"] == ("0" if L == 1 else "-1") and rows["SP"]["regime"] == "unstable"
    assert rows["SP, lr ~ 1/n"]["r"] == ("3/2" if L == 1 else "1/2")
    assert rows["SP, lr ~ 1/n"]["regime"] == "kernel"
    assert rows["NTP"]["r"] == "1/2" and rows["NTP"]["kernel"] == "ntk"
    assert rows["muP"]["r"] == "0" and rows["muP"]["regime"] == "feature-learning"
    assert rows["muP"]["every_layer_updated_maximally"] and rows["muP"]["readout_initialized_maximally"]
    assert rows["UP_1/4"]["r"] == "1/4"
    assert ("MFP" in rows) == (L == 1)
    md = named_table_markdown(L)
    assert md.count("\n") == len(rows) + 1 and "| muP |" in md


# ---- conditions, kernels and the other outputs -----------------------------------------------------
def test_every_failing_condition_is_named_with_its_gap():
    p = Parametrization(a=(0, 0, 0), b=(F(1, 4), F(1, 3), F(1, 4)), c=F(-1))
    c = classify(p)
    req = {f.requirement: f for f in c.failures}
    assert req["a_1 + b_1 = 0"].by == F(1, 4)
    assert req["a_2 + b_2 = 1/2"].by == F(1, 6)
    assert req["a_{L+1} + b_{L+1} >= 1/2"].by == F(1, 4)
    assert req["2a_{L+1} + c >= 1"].actual == -1 and req["2a_{L+1} + c >= 1"].by == 2
    for f in c.failures:
        assert f.by > 0 and f.requirement in c.explanation


def test_trivial_parametrization():
    # muP with a readout one power of n smaller at init and in its step: nothing reaches f
    p = Parametrization(a=(F(-1, 2), 0, 1), b=(H, H, H), c=0)
    c = classify(p)
    assert c.stable and c.nontrivial is False and c.regime == "trivial"
    assert c.updated_maximally[-1] is False and c.readout_initialized_maximally is False
    assert c.kernel is None


def test_trivial_yet_features_move():
    # readout init n^{-3/2}, readout step n^{-3/2}: r = 0 but f frozen
    p = Parametrization(a=(F(-3, 4), F(-1, 4), F(3, 4)), b=(F(3, 4),) * 3, c=0)
    c = classify(p)
    assert c.r == 0 and c.regime == "trivial" and c.feature_learning_layers
    assert "too small" in c.explanation


def test_readout_only_training_follows_the_nngp():
    # NTP with the hidden layers' steps made vanishingly small relative to the readout's:
    # gamma_l = c + 2a_l > 1 for l <= L, gamma_{L+1} = 1.
    p = Parametrization(a=(F(1, 2), 1, H), b=(F(-1, 2), F(-1, 2), 0), c=0)
    c = classify(p)
    assert c.regime == "kernel" and c.kernel == "nngp" and c.kernel_layers == (3,)


def test_surviving_layers_rule_matches_formulas():
    for p in (sp(3, c=1), ntp(3), up("1/4", 3), mup(3)):
        c = classify(p)
        a_out = p.init_exponents()[-1]
        expected = [i + 1 for i, r in enumerate(c.r_l) if a_out + r == 1]
        expected += [p.depth + 1] if p.step_exponents()[-1] == 1 else []
        assert surviving_ntk_layers(p) == tuple(expected)


def test_as_dict_is_json_with_the_cli_keys():
    for p in (mup(3), sp(2), ntp(1), sp(2, c=1)):
        d = classify(p).as_dict()
        assert CLI_KEYS <= set(d)
        json.dumps(d)
        assert isinstance(d["depth"], int) and len(d["r_l"]) == p.depth
        assert all(F(x) == y for x, y in zip(d["r_l"], classify(p).r_l, strict=True))
        assert d["regime"] in {"unstable", "trivial", "kernel", "feature-learning"}
        if d["stable"]:
            assert len(d["updated_maximally"]) == p.depth + 1
    assert classify(mup(1)).as_dict()["r"] == "0"
    assert classify(up("1/4", 1)).as_dict()["r"] == "1/4"


def test_classify_method_and_type_check():
    assert mup(2).classify() == classify(mup(2))
    with pytest.raises(UserError):
        classify("mup")  # type: ignore[arg-type]


# ---- Adam (Tensor Programs V) -------------------------------------------------------------------
def test_adam_mup_in_tp5_form_is_maximal():
    # TP5: init var 1/fan_in (output 1/fan_in^2), Adam rate 1 for input, 1/fan_in hidden/output
    p = Parametrization(a=(0, 0, 0), b=(0, H, 1), c=0)
    c = classify(p, adam_c=(0, 1, 1))
    assert c.optimizer == "adam" and c.regime == "feature-learning"
    assert c.updated_maximally == (True, True, True) and c.readout_initialized_maximally


def test_adam_sp_with_small_rate_learns_features_but_logits_blow_up():
    c = classify(sp(2), adam_c=(1, 1, 1))
    assert c.r_l == (1, 0) and c.r == 0
    assert c.regime == "unstable"
    assert [f.requirement for f in c.failures] == ["a_{L+1} + b_{L+1} + r >= 1"]


def test_adam_rates_wrong_length():
    with pytest.raises(UserError, match="one per layer"):
        classify(mup(2), adam_c=(1, 1))


def test_preset_override_changes_classification():
    assert classify(preset("sp", 2, c=1)).regime == "kernel"
    assert classify(preset("mup", 2, c=F(1, 2))).regime == "trivial"
