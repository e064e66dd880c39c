"""Hypothesis strategies for abc-parametrizations (general, and stable by construction)."""

from __future__ import annotations

from fractions import Fraction as F

from hypothesis import strategies as st

from infwidth.parametrizations import Parametrization

H = F(1, 2)
small = st.fractions(min_value=-3, max_value=3, max_denominator=6)
nonneg = st.fractions(min_value=0, max_value=2, max_denominator=6)


@st.composite
def any_parametrization(draw, max_depth: int = 4) -> Parametrization:
    L = draw(st.integers(1, max_depth))
    a = tuple(draw(small) for _ in range(L + 1))
    b = tuple(draw(small) for _ in range(L + 1))
    return Parametrization(a=a, b=b, c=draw(small))


def from_invariants(alpha, gamma, c) -> Parametrization:
    """The parametrization with init exponents alpha_l = a_l + b_l and steps gamma_l = c + 2a_l."""
    a = tuple((g - c) / 2 for g in gamma)
    b = tuple(x - y for x, y in zip(alpha, a, strict=True))
    return Parametrization(a=a, b=b, c=c)


@st.composite
def stable_parametrization(draw, max_depth: int = 4, nontrivial: bool | None = True) -> Parametrization:
    """Stable by construction: init exponents (0, 1/2.., a_out), r_l >= 0, logits bounded.

    ``nontrivial=True`` forces a maximal readout init or update; ``False`` forces neither;
    ``None`` leaves it to chance.
    """
    L = draw(st.integers(1, max_depth))
    r_min = draw(st.one_of(st.just(F(0)), st.fractions(min_value=0, max_value=H, max_denominator=6)))
    extra = [draw(st.one_of(st.just(F(0)), nonneg)) for _ in range(L)]
    extra[draw(st.integers(0, L - 1))] = F(0)
    r_l = [r_min + e for e in extra]
    mode = draw(st.sampled_from(["update", "init", "both"]))
    if nontrivial is True:
        g_out = F(1) if mode in ("update", "both") else 1 + draw(st.fractions(min_value=0, max_value=2, max_denominator=6).filter(lambda x: x > 0))
        if mode in ("init", "both"):
            a_out = 1 - r_min  # a_out + r = 1, a_out >= 1/2
        else:
            a_out = max(H, 1 - r_min) + draw(nonneg)
    elif nontrivial is False:
        g_out = 1 + draw(st.fractions(min_value=0, max_value=2, max_denominator=6).filter(lambda x: x > 0))
        a_out = max(H, 1 - r_min) + draw(st.fractions(min_value=0, max_value=2, max_denominator=6).filter(lambda x: x > 0))
    else:
        g_out = 1 + draw(nonneg)
        a_out = max(H, 1 - r_min) + draw(nonneg)
    theta = min(a_out, g_out)
    gamma = [r - theta + 1 - (1 if i == 0 else 0) for i, r in enumerate(r_l)] + [g_out]
    alpha = [F(0)] + [H] * (L - 1) + [a_out]
    return from_invariants(alpha, gamma, draw(small))
