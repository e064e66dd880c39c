"""Predicted coordinate sizes: the exponent ``e`` (RMS ~ ``n^e``) of every activation at every step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from infwidth import nonlinearities as _nl
from infwidth.errors import UserError
from infwidth.networks.mlp import abc_adam_exponents, activation_names
from infwidth.parametrizations.abc import Parametrization

#: The classification's two large-argument behaviours (see :mod:`infwidth.nonlinearities`, ``growth``).
_CLASS_KEY = {"linear": "relu", "saturating": "tanh"}


def quantity_names(depth: int) -> list[str]:
    """Recorded quantities in forward order: ``h1, x1, ..., hL, xL, f`` then their changes ``dh1..``."""
    sizes = activation_names(depth)
    return sizes + ["d" + q for q in sizes]


def prediction_keys(nonlinearity: str | Callable[..., Any]) -> tuple[str, ...]:
    """The classification rules that describe ``nonlinearity``: one key, or both when none is known.

    Predictions differ between the rules only past a blow-up (``Delta h >> 1``); where they differ
    for a nonlinearity with no rule of its own (sin, a callable) there is no prediction.
    """
    if callable(nonlinearity) and not isinstance(nonlinearity, (str, _nl.Nonlinearity)):
        return ("relu", "tanh")
    key = _CLASS_KEY.get(_nl.get(nonlinearity).growth)
    return (key,) if key else ("relu", "tanh")


def prediction_note(nonlinearity: str | Callable[..., Any]) -> str | None:
    """One line saying what is not predicted for ``nonlinearity`` (None when everything is)."""
    if len(prediction_keys(nonlinearity)) == 1:
        return None
    name = nonlinearity if isinstance(nonlinearity, str) else getattr(nonlinearity, "__name__", "callable")
    return (f"{name} is neither asymptotically linear nor saturating: sizes past a blow-up (Delta h >> 1) "
            "have no prediction; stable settings are predicted as usual")


def predicted_sizes(
    p: Parametrization,
    steps: int,
    optimizer: str = "sgd",
    adam_c: Sequence[Fraction] | None = None,
    phi: str | Callable[..., Any] = "relu",
) -> dict[tuple[int, str], Fraction | None]:
    """Predicted exponent ``e`` (RMS ~ ``n^e``) of every quantity at every step ``0..steps``, for ``phi``.

    Step 0 and step 1 come from :func:`infwidth.parametrizations.classify.predicted_exponents`
    (init, and one update with the readout still at its init size) under the rule of ``phi``'s
    large-argument growth (relu rule for relu, leaky relu, identity, gelu; tanh rule for tanh, erf;
    for others, only where both rules agree). From step 2 on the backward vector has the size of the
    *updated* readout, ``n^{-min(a_{L+1}+b_{L+1}, 2a_{L+1}+c)}`` (SGD): we reuse the one-update
    formula with ``a_{L+1}+b_{L+1}`` replaced by that minimum. Unstable parametrizations compound
    their blow-up step after step: no prediction after step 1; none at all when ``p`` is not stable
    at initialization. ``h_t, x_t`` (t >= 1) are predicted as the larger of the init size and the change.
    """
    keys = prediction_keys(phi)
    per_key = [_predicted_for_rule(p, steps, optimizer, adam_c, k) for k in keys]
    first = per_key[0]
    return {q: (v if all(other[q] == v for other in per_key[1:]) else None) for q, v in first.items()}


def _predicted_for_rule(
    p: Parametrization, steps: int, optimizer: str, adam_c: Sequence[Fraction] | None, phi_key: str
) -> dict[tuple[int, str], Fraction | None]:
    from infwidth.parametrizations.classify import classify, readout_backward_exponent
    from infwidth.parametrizations.predict import predicted_exponents

    opt = optimizer.lower()
    kw: dict[str, Any] = {"optimizer": opt, "phi": phi_key}
    if opt == "adam":
        kw["adam_c"] = tuple(adam_c) if adam_c is not None else abc_adam_exponents(p)
    names = quantity_names(p.depth)
    try:
        one = predicted_exponents(p, **kw)
    except UserError:  # not stable at init: the classification predicts no exponents
        return {(t, q): None for t in range(steps + 1) for q in names}
    later: dict[str, Fraction] | None = None
    stable = classify(p, adam_c=kw.get("adam_c")).stable
    if stable:
        later = one
        theta = readout_backward_exponent(p)
        if opt == "sgd" and theta < p.a[-1] + p.b[-1]:
            b_out = theta - p.a[-1]  # readout already moved: backward vector ~ n^{-theta}
            shifted = Parametrization(a=p.a, b=p.b[:-1] + (b_out,), c=p.c, sigma=p.sigma)
            later = predicted_exponents(shifted, **kw)
    out: dict[tuple[int, str], Fraction | None] = {}
    for t in range(steps + 1):
        source = None if t == 0 else (one if t == 1 else later)
        for q in names:
            if q.startswith("d"):
                out[(t, q)] = None if source is None else source[q]
            elif t == 0:
                out[(t, q)] = one[q]
            else:
                out[(t, q)] = None if source is None else max(one[q], source["d" + q])
    return out
