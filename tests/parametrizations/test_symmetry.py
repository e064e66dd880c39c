"""The symmetry (a, b, c) -> (a + t, b - t, c - 2t) leaves every classification output unchanged."""

from fractions import Fraction as F

from _param_strategies import any_parametrization, small, stable_parametrization
from hypothesis import given, settings
from hypothesis import strategies as st

from infwidth.parametrizations import (
    adam_exponents,
    classify,
    layer_contribution_exponents,
    predicted_exponents,
    surviving_ntk_layers,
)


def _without_echo(d):
    return {k: v for k, v in d.items() if k != "parametrization"}


@settings(max_examples=200, deadline=None)
@given(any_parametrization(), small)
def test_classification_is_invariant_under_the_shift(p, t):
    q = p.shift(t)
    assert q.equivalent(p)
    assert _without_echo(classify(q).as_dict()) == _without_echo(classify(p).as_dict())


@settings(max_examples=200, deadline=None)
@given(stable_parametrization(nontrivial=None), small)
def test_stable_outputs_and_exponents_are_invariant(p, t):
    q = p.shift(t)
    cp, cq = classify(p), classify(q)
    assert _without_echo(cq.as_dict()) == _without_echo(cp.as_dict())
    assert cq.explanation == cp.explanation
    assert surviving_ntk_layers(q) == surviving_ntk_layers(p)
    for phi in ("relu", "tanh"):
        assert predicted_exponents(q, phi=phi) == predicted_exponents(p, phi=phi)
    assert layer_contribution_exponents(q) == layer_contribution_exponents(p)
    # Adam's rates follow the Adam symmetry c_l -> c_l - t, keeping a_l + c_l fixed
    ap, aq = adam_exponents(p), adam_exponents(q)
    assert aq == tuple(x - t for x in ap)
    assert predicted_exponents(q, "adam", aq) == predicted_exponents(p, "adam", ap)
    assert _without_echo(classify(q, adam_c=aq).as_dict()) == _without_echo(classify(p, adam_c=ap).as_dict())


@settings(max_examples=200, deadline=None)
@given(any_parametrization(), small, small)
def test_a_real_change_is_seen(p, t, dc):
    # control: changing c alone (not a symmetry) changes the invariants unless dc == 0
    q = p.with_c(p.c + dc).shift(t)
    assert q.equivalent(p) == (dc == 0)


@settings(max_examples=200, deadline=None)
@given(stable_parametrization(nontrivial=None), st.fractions(min_value=-2, max_value=2, max_denominator=4))
def test_adam_with_matched_rates_keeps_the_regime(p, t):
    sgd = _without_echo(classify(p).as_dict())
    adam = _without_echo(classify(p, adam_c=adam_exponents(p)).as_dict())
    for key in ("optimizer", "explanation", "kernel"):  # Adam names no kernel: not kernel GD
        sgd.pop(key), adam.pop(key)
    assert adam == sgd
    assert adam_exponents(p.shift(t)) != adam_exponents(p) or t == F(0)
