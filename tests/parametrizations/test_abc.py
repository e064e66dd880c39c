"""The Parametrization object: exact numbers, presets, symmetry, immutability, bad input."""

from dataclasses import FrozenInstanceError
from decimal import Decimal
from fractions import Fraction as F

import numpy as np
import pytest

from infwidth.errors import UserError
from infwidth.parametrizations import (
    Parametrization,
    from_exponents,
    mfp,
    mup,
    ntp,
    preset,
    sp,
    to_fraction,
    up,
)

H = F(1, 2)


@pytest.mark.parametrize(
    "value, expected",
    [("1/2", H), ("0.5", H), (0.5, H), (1, F(1)), (F(3, 7), F(3, 7)), ("-1", F(-1)), (" 2/4 ", H),
     (0.1, F(1, 10)), ("1e-3", F(1, 1000)), (np.float64(0.25), F(1, 4)), (np.int64(-2), F(-2)),
     (Decimal("0.75"), F(3, 4)), (1e-12, F(1, 10**12))],
)
def test_to_fraction_is_exact(value, expected):
    out = to_fraction(value)
    assert out == expected and isinstance(out, F)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "Infinity", float("nan"), float("inf"),
                                 "abc", "1/0", "", "1/2/3", True, None, [1]])
def test_to_fraction_rejects_with_one_line(bad):
    with pytest.raises(UserError) as info:
        to_fraction(bad, "c")
    assert "\n" not in str(info.value) and "c " in str(info.value)


def test_presets_match_spec_table():
    L = 3
    assert sp(L).a == (0, 0, 0, 0) and sp(L).b == (0, H, H, H) and sp(L).c == 0
    assert ntp(L).a == (0, H, H, H) and ntp(L).b == (0, 0, 0, 0) and ntp(L).c == 0
    assert mfp(1).a == (0, 1) and mfp(1).b == (0, 0) and mfp(1).c == -1
    assert mup(L).a == (-H, 0, 0, H) and mup(L).b == (H, H, H, H) and mup(L).c == 0
    s = F(1, 4)
    assert up(s, L).a == (s - H, s, s, H) and up(s, L).b == (H - s,) * 4 and up(s, L).c == 0
    assert up(0, L) == mup(L)
    assert up(H, L).equivalent(ntp(L))


def test_preset_c_override_and_names():
    small = preset("sp", 2, c=1)
    assert small.c == 1 and small.a == sp(2).a and small == sp(2).with_c("1")
    assert preset("up", 2, s="1/4") == up(F(1, 4), 2)
    assert preset("mup", 2, c="1/2").c == H
    assert preset("MuP", 1) == mup(1)


@pytest.mark.parametrize(
    "call, words",
    [(lambda: mfp(2), "depth 1"), (lambda: up("0.6", 2), "[0, 1/2]"), (lambda: up(-1, 2), "[0, 1/2]"),
     (lambda: sp(0), "depth"), (lambda: mup(-1), "depth"), (lambda: mup(1.5), "depth"),
     (lambda: preset("foo", 2), "unknown preset"), (lambda: preset("up", 2), "needs s"),
     (lambda: preset("sp", 2, s=0), "up only"),
     (lambda: Parametrization(a=(0,), b=(0,), c=0), "depth L >= 1"),
     (lambda: Parametrization(a=(0, 0), b=(0, 0, 0), c=0), "b-exponents"),
     (lambda: Parametrization(a=(0, "x"), b=(0, 0), c=0), "a_2"),
     (lambda: Parametrization(a=(0, 0), b=(0, 0), c="nan"), "finite"),
     (lambda: Parametrization(a="00", b=(0, 0), c=0), "sequence"),
     (lambda: Parametrization(a=(0, 0), b=(0, 0), c=0, sigma=(1.0, -1.0)), "sigma_2"),
     (lambda: Parametrization(a=(0, 0), b=(0, 0), c=0, sigma=(1.0,)), "init constants")],
)
def test_bad_parametrizations_raise_one_line(call, words):
    with pytest.raises(UserError) as info:
        call()
    msg = str(info.value)
    assert words in msg and "\n" not in msg and ";" in msg


def test_immutable_hashable_readable():
    p = mup(2)
    with pytest.raises(FrozenInstanceError):
        p.c = F(1)  # type: ignore[misc]
    assert hash(p) == hash(Parametrization(a=("-1/2", 0, "0.5"), b=(H, H, H), c=0))
    assert p == Parametrization(a=("-1/2", 0, "0.5"), b=(H, H, H), c=0, name="other label")
    assert len({p, mup(2), ntp(2)}) == 2
    assert repr(p) == "Parametrization('mup', L=2, a=(-1/2, 0, 1/2), b=(1/2, 1/2, 1/2), c=0)"
    assert p.depth == 2 and p.L == 2
    d = p.as_dict()
    assert d == {"name": "mup", "depth": 2, "a": ["-1/2", "0", "1/2"], "b": ["1/2"] * 3, "c": "0",
                 "sigma": [1.0, 1.0, 1.0]}


def test_shift_symmetry_and_equivalence():
    p = mup(3)
    q = p.shift("1/3")
    assert q.a == tuple(x + F(1, 3) for x in p.a)
    assert q.b == tuple(x - F(1, 3) for x in p.b)
    assert q.c == p.c - F(2, 3)
    assert q != p and q.equivalent(p) and p.equivalent(q)
    assert q.init_exponents() == p.init_exponents() and q.step_exponents() == p.step_exponents()
    assert p.canonical().a[-1] == 0 and p.canonical().equivalent(p)
    assert q.canonical() == p.canonical()
    assert not p.equivalent(p.with_c(1))
    assert not p.equivalent(mup(2))
    assert not p.equivalent(p.with_sigma((1.0, 2.0, 1.0, 1.0)))
    assert p.shift(0) == p


def test_from_exponents_accepts_mixed_forms():
    p = from_exponents(["-1/2", 0.0, F(1, 2)], [0.5, "1/2", 1 / 2], "0", name="x")
    assert p == mup(2) and p.name == "x"


def test_views_plug_in_from_above() -> None:
    """The core names none of its views: they resolve through the registry, which a user can extend."""
    import infwidth.parametrizations.abc as core
    from infwidth.parametrizations.abc import register_view, view

    p = mup(1)
    register_view("toy", lambda q, k: (q.depth, k))
    try:
        assert view("toy")(p, 3) == (1, 3)
    finally:
        core._VIEWS.pop("toy")
    with pytest.raises(UserError, match="no view 'nope' is registered"):
        view("nope")
    net = p.mlp(8, 2, 1, seed=0)  # the built-in views, registered by infwidth/__init__
    assert type(net).__name__ == "AbcMLP"
    import ast

    tree = ast.parse(open(core.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert all(m.startswith(("infwidth.errors", "infwidth.parametrizations")) for m in imported if "infwidth" in m)
