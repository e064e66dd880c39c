"""The Dynamical Dichotomy over random stable nontrivial parametrizations, checked two ways:
by the classification's fields and by the independently computed one-step exponents."""

from _param_strategies import stable_parametrization
from hypothesis import given, settings

from infwidth.parametrizations import classify, predicted_exponents, surviving_ntk_layers


@settings(max_examples=200, deadline=None)
@given(stable_parametrization(nontrivial=True))
def test_never_both_feature_learning_and_kernel(p):
    c = classify(p)
    L = p.depth
    assert c.stable and c.nontrivial is True
    feature_learning = c.r == 0  # some layer's features move Theta(1)
    kernel = all(r > 0 for r in c.r_l) and bool(surviving_ntk_layers(p))
    assert feature_learning != kernel  # exactly one
    assert c.regime == ("feature-learning" if feature_learning else "kernel")
    pe = predicted_exponents(p)
    assert pe["df"] == 0  # nontrivial: f moves Theta(1) already after one step
    dx = [pe[f"dx{i}"] for i in range(1, L + 1)]
    if c.regime == "kernel":
        assert c.kernel in {"ntk", "nngp", "partial-ntk"} and c.kernel_layers
        assert max(dx) < 0  # features frozen: the kernel does not move
        assert c.feature_learning_layers == ()
    else:
        assert c.kernel is None and c.kernel_layers is None
        assert c.f0_vanishes  # every stable nontrivial feature-learning one has f_0 -> 0
        # feature learning in layer l carries on to l..L
        first = c.feature_learning_layers[0]
        assert c.feature_learning_layers == tuple(range(first, L + 1))
        # when the readout's init is not smaller than its step, features already move at step 1
        a_out, g_out = p.init_exponents()[-1], p.step_exponents()[-1]
        if a_out <= g_out:
            assert dx[-1] == 0
        else:  # the backward signal only becomes Theta(readout step) after the first update
            assert dx[-1] < 0


@settings(max_examples=200, deadline=None)
@given(stable_parametrization(nontrivial=False))
def test_trivial_ones_do_not_move_f(p):
    c = classify(p)
    assert c.stable and c.nontrivial is False and c.regime == "trivial"
    assert predicted_exponents(p)["df"] < 0
