"""Verdicts a user can trust: never a FAIL for correct parametrizations in settings users try (wide
inputs, tanh, GELU, Adam, depth 2-4, narrow widths, batch 1-64), never a PASS for broken ones (SP
with a constant rate at depth >= 2, a wrong readout exponent, UP_{1/4}, UP_{1/2} or NTP measured as
muP); where the data cannot decide the verdict is "inconclusive".

The default suite runs a few cheap points of each direction; the grid is marked slow.
"""

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infwidth.coordcheck import CoordCheck, format_table, predicted_sizes, run_coordcheck
from infwidth.parametrizations import from_exponents, mup, ntp, sp, up

WIDE = [64, 128, 256, 512, 1024, 2048]


def wrong_readout(depth: int):
    """muP with the readout initialized n^{1/2} too large (b_{L+1} - 1/2): what a missing 1/n gives."""
    p = mup(depth)
    return from_exponents(a=list(p.a), b=list(p.b[:-1]) + [p.b[-1] - Fraction(1, 2)], c=p.c)


def check(p, widths, *, measured_as=None, **kw):
    kw = dict(steps=2, seeds=3, lr=0.1, d_in=32) | kw
    cc = run_coordcheck(p, widths, **kw)
    if measured_as is not None:  # a network that should have been `measured_as` but is built wrong
        cc.predicted = predicted_sizes(measured_as, cc.steps, cc.optimizer, None, kw.get("nonlinearity", "relu"))
    return cc


def fails(cc):
    return [(r.step, r.quantity, r.fitted, str(r.predicted)) for r in cc.rows() if r.status in ("fail", "diverged")]


# ---- the rule on synthetic sizes (exact laws plus seed noise): fast, property-style ---------------
def synthetic(values_of_n, widths, seeds=3, noise=0.0, batch=8, seed=0):
    """A one-quantity CoordCheck (step 1, ``dx1`` predicted n^0) whose RMS is ``values_of_n(n)`` x noise."""
    rng = np.random.default_rng(seed)
    n = np.asarray(widths, dtype=float)
    sizes = np.ones((len(widths), seeds, 2, 2))
    sizes[:, :, 1, 1] = values_of_n(n)[:, None] * np.exp(noise * rng.standard_normal((len(widths), seeds)))
    return CoordCheck(parametrization=mup(1), widths=list(widths), seeds=list(range(seeds)), steps=1, optimizer="sgd",
                      lr=0.1, sizes=sizes, names=["x1", "dx1"],
                      predicted={(0, "x1"): Fraction(0), (1, "x1"): Fraction(0), (1, "dx1"): Fraction(0)},
                      config={"batch": batch, "d_in": 3072})


def dx1(cc):
    return next(r for r in cc.rows() if r.quantity == "dx1")


@settings(max_examples=25, deadline=None)
@given(slope=st.sampled_from([-0.5, -0.25, 0.25, 0.5]), noise=st.floats(0.0, 0.02), seed=st.integers(0, 10**6))
def test_a_pure_power_law_with_another_exponent_fails(slope, noise, seed):
    cc = synthetic(lambda n: n**slope, [64, 128, 256, 512, 1024, 2048], noise=noise, seed=seed)
    assert dx1(cc).verdict == "fail" and not cc.passed and cc.verdict()[0] == "fail"


@settings(max_examples=25, deadline=None)
@given(b=st.floats(1.0, 40.0), noise=st.floats(0.0, 0.02), seed=st.integers(0, 10**6))
def test_the_predicted_law_with_a_finite_width_correction_never_fails(b, noise, seed):
    # RMS^2 = C^2 + B/n with C = 1: muP's Delta f at wide inputs; B up to 40 (crossover n = 40)
    cc = synthetic(lambda n: np.sqrt(1 + b / n), [16, 32, 64, 128, 256, 512], noise=noise, seed=seed)
    assert cc.passed and dx1(cc).verdict in ("pass", "inconclusive")


def test_a_curve_bending_towards_the_prediction_is_inconclusive_with_the_widths_to_add():
    # B/C^2 = 500: the narrowest widths decline like n^{-1/2}, the widest flatten, none is past 2 x 500
    cc = synthetic(lambda n: np.sqrt(1 + 500 / n), [32, 64, 128, 256, 512], noise=0.01)
    row = dx1(cc)
    assert row.verdict == "inconclusive" and cc.passed and cc.verdict()[0] == "inconclusive"
    assert "widths >= 1024" in row.reason and ("bends towards 0" in row.reason or "allows 0 and a wrong" in row.reason)
    d = cc.as_dict()
    assert d["verdict"] == "inconclusive" and d["passed"] and d["inconclusive"] == 1
    q = d["quantities"][-1]
    assert q["verdict"] == "inconclusive" and q["pass"] and q["curvature"] > 0.05 and q["reason"] == row.reason
    json.dumps(d, allow_nan=False)
    assert format_table(cc).splitlines()[-1].startswith("verdict: inconclusive")


def test_a_correction_that_dominates_every_width_without_a_bend_fails():
    # C^2 + B/n with B/C^2 = 3000 over 64..1024 is a straight n^{-1/2} line: indistinguishable from
    # a wrong exponent e - 1/2 (NTP measured as muP); the verdict says so rather than passing
    cc = synthetic(lambda n: np.sqrt(1 + 3000 / n), [64, 128, 256, 512, 1024], noise=0.01)
    row = dx1(cc)
    assert row.verdict == "fail" and "no bend towards the prediction" in row.reason


def test_an_asymptotic_correction_passes():
    cc = synthetic(lambda n: np.sqrt(1 + 8 / n) * n**-0.2, [16, 32, 64, 128, 256, 512])
    assert dx1(cc).verdict == "fail"  # slope -0.2 with the same correction: another exponent
    cc = synthetic(lambda n: np.sqrt(1 + 8 / n), [16, 32, 64, 128, 256, 512])
    assert dx1(cc).verdict == "pass" and cc.verdict()[0] == "pass"


# ---- default suite: one cheap point per direction ----------------------------------------------
def test_wide_input_mup_passes_with_the_finite_width_rule():
    # d_in = 3072 >> n: Delta f declines over the narrow widths (plain slope about -0.18), then flattens
    cc = check(mup(3), WIDE, d_in=3072, steps=1)
    assert cc.passed, fails(cc)
    assert any(r.status == "pass (finite-width corrected)" for r in cc.rows())


def test_wide_input_wrong_readout_still_fails():
    cc = check(wrong_readout(2), WIDE, d_in=3072, steps=1, measured_as=mup(2))
    assert not cc.passed
    assert {q for _, q, _, _ in fails(cc)} >= {"f", "h1"}


def test_sp_constant_rate_depth_two_still_fails():
    cc = check(sp(2), WIDE[:5], steps=1)
    assert not cc.passed
    assert ("df" in {q for _, q, _, _ in fails(cc)})


def test_known_gap_depth_four_narrow_widths_is_never_a_fail():
    # muP, depth 4, widths 16..256 at batch 32: Delta f drops between n = batch and 4 x batch, then
    # flattens; formerly a false FAIL, now inconclusive (or pass), never fail
    cc = check(mup(4), [16, 32, 64, 128, 256])
    assert cc.passed and cc.verdict()[0] != "fail", fails(cc)


def test_up_half_measured_as_mup_at_narrow_widths_fails():
    cc = check(up("1/2", 2), [16, 32, 64, 128, 256], measured_as=mup(2))
    assert cc.verdict()[0] == "fail" and not cc.passed


def test_corrected_pass_needs_an_asymptotic_widest_width():
    # NTP's changes vanish like n^{-1/2}: measured as muP (predicted n^0) no rule may rescue them
    cc = check(ntp(2), WIDE[:5], steps=1, measured_as=mup(2))
    rows = {(r.step, r.quantity): r for r in cc.rows()}
    assert rows[(1, "dx1")].status == "fail" and rows[(1, "dx2")].status == "fail"


# ---- the grid (slow) ----------------------------------------------------------------------------
CORRECT = [
    *[(f"mup L{L} {phi} d_in 3072", mup(L), WIDE, dict(d_in=3072, nonlinearity=phi))
      for L in (2, 3) for phi in ("relu", "tanh", "gelu")],
    *[(f"mup L4 {phi} d_in 3072", mup(4), WIDE, dict(d_in=3072, nonlinearity=phi)) for phi in ("tanh", "gelu")],
    *[(f"mup L{L} {phi} narrow", mup(L), [32, 64, 128, 256, 512], dict(nonlinearity=phi))
      for L in (2, 3) for phi in ("relu", "tanh", "gelu")],
    *[(f"mup L2 {phi} narrower, batch 8", mup(2), [16, 32, 64, 128, 256], dict(nonlinearity=phi, batch=8))
      for phi in ("relu", "tanh", "gelu")],
    *[(f"mup L{L} {phi} adam", mup(L), [64, 128, 256, 512], dict(optimizer="adam", lr=0.01, nonlinearity=phi))
      for L in (2, 3) for phi in ("relu", "tanh", "gelu")],
    *[(f"ntp L{L} {phi} d_in 3072", ntp(L), WIDE, dict(d_in=3072, nonlinearity=phi))
      for L in (2, 3) for phi in ("relu", "tanh", "gelu")],
    ("issue case: mup L3 d_in 3072 to 4096", mup(3), WIDE + [4096], dict(d_in=3072, steps=3)),
    *[(f"mup L{L} narrow batch 32", mup(L), [16, 32, 64, 128, 256], dict()) for L in (2, 3, 4)],
    ("mup L4 relu d_in 3072", mup(4), WIDE, dict(d_in=3072)),
    *[(f"mup L{L} batch 1 steps 1", mup(L), [16, 32, 64, 128, 256], dict(batch=1, steps=1)) for L in (3, 4)],
    ("mup L3 batch 64 steps 3", mup(3), [16, 32, 64, 128, 256], dict(batch=64, steps=3)),
]
BROKEN = [
    *[(f"SP c=0 L{L}", sp(L), WIDE[:5], dict(), None) for L in (2, 3, 4)],
    *[(f"SP c=0 L{L} d_in 3072", sp(L), WIDE, dict(d_in=3072), None) for L in (2, 3, 4)],
    *[(f"wrong readout L{L}", wrong_readout(L), WIDE[:5], dict(), mup(L)) for L in (2, 3)],
    *[(f"wrong readout L{L} d_in 3072", wrong_readout(L), WIDE, dict(d_in=3072), mup(L)) for L in (2, 3)],
    *[(f"ntp as mup L{L}", ntp(L), WIDE[:5], dict(), mup(L)) for L in (2, 3)],
    *[(f"up({s}) as mup L{L} d_in 3072", up(s, L), WIDE, dict(d_in=3072), mup(L)) for L in (2, 3) for s in ("1/4", "1/2")],
    *[(f"up({s}) as mup L{L} narrow", up(s, L), [16, 32, 64, 128, 256], dict(), mup(L)) for L in (2, 4)
      for s in ("1/4", "1/2")],
]


@pytest.mark.slow
@pytest.mark.parametrize(("label", "p", "widths", "kw"), CORRECT, ids=[c[0] for c in CORRECT])
def test_grid_correct_parametrizations_never_fail(label, p, widths, kw):
    cc = check(p, widths, **kw)
    assert cc.passed and cc.verdict()[0] in ("pass", "inconclusive"), (label, fails(cc))


@pytest.mark.slow
@pytest.mark.parametrize(("label", "p", "widths", "kw", "as_"), BROKEN, ids=[c[0] for c in BROKEN])
def test_grid_broken_parametrizations_never_pass(label, p, widths, kw, as_):
    cc = check(p, widths, measured_as=as_, **kw)
    assert cc.verdict()[0] != "pass", label
