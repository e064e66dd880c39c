"""Scaling exponents a finite network in an abc-parametrization shows at init and after ONE update.

Rational arithmetic on the invariants of :mod:`.classify` (``alpha_l = a_l + b_l``,
``gamma_l = c + 2 a_l``); checked against real networks by the coordinate check. The derivations
are written out in ``docs/classification.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from infwidth.errors import UserError
from infwidth.parametrizations.abc import Number, Parametrization
from infwidth.parametrizations.classify import HALF, ONE, ZERO, _adam_rates, adam_exponents

OPTIMIZERS = ("sgd", "adam")
NONLINEARITIES = ("relu", "tanh")  # the two large-argument rules; any name of infwidth.nonlinearities maps to one


# ---- predicted scaling exponents of a finite network ---------------------------------------------
def _require_init_stable(p: Parametrization) -> None:
    alpha = p.init_exponents()
    bad = []
    if alpha[0] != 0:
        bad.append(f"a_1 + b_1 = {alpha[0]} (needs 0)")
    bad += [f"a_{i + 1} + b_{i + 1} = {x} (needs 1/2)" for i, x in enumerate(alpha[1:-1], 1) if x != HALF]
    if alpha[-1] < HALF:
        bad.append(f"a_{{L+1}} + b_{{L+1}} = {alpha[-1]} (needs >= 1/2)")
    if bad:
        raise UserError(
            "predicted exponents need a parametrization stable at initialization, but "
            + "; ".join(bad)
            + "; fix the init exponents a_l + b_l"
        )


def phi_rule(phi: str) -> str:
    """The rule a nonlinearity follows past a blow-up: ``"relu"`` (asymptotically linear: relu,
    leaky_relu, identity, gelu) or ``"tanh"`` (bounded and saturating: tanh, erf); one-line refusal
    for the others (sin oscillates: no rule derived)."""
    from infwidth import (
        nonlinearities as _nl,  # torch-backed: loaded only when exponents are predicted
    )

    entry = _nl.get(phi)
    rule = {"linear": "relu", "saturating": "tanh"}.get(entry.growth)
    if rule is None:
        raise UserError(
            f"no exponent prediction for {entry.name}: it neither grows linearly nor saturates, and only those "
            "two rules are derived; use relu, leaky_relu, identity, gelu, tanh or erf"
        )
    return rule


def predicted_exponents(
    p: Parametrization,
    optimizer: str = "sgd",
    adam_c: Sequence[Number] | None = None,
    phi: str = "relu",
) -> dict[str, Fraction]:
    """Exponents ``e`` with RMS coordinate size ``~ n^e`` at init and after ONE update.

    Keys: ``h1..hL, x1..xL, f`` at init; ``dh1..dhL, dx1..dxL, df`` = change after the first step
    (fixed batch, generic nonlinearity, loss derivative Theta(1)). ``optimizer="adam"`` uses
    per-layer rate exponents ``adam_c`` (default :func:`adam_exponents`). ``phi`` matters only
    when something blows up: ``"relu"`` (positively homogeneous, blow-ups compound) or
    ``"tanh"`` (bounded, activations saturate at Theta(1)). Derivation: docs/classification.md.
    """
    opt = str(optimizer).lower()
    if opt not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}; choose sgd or adam")
    phi = phi_rule(phi)
    if opt == "sgd" and adam_c is not None:
        raise UserError("adam_c applies to optimizer='adam' only; drop it or set optimizer='adam'")
    _require_init_stable(p)
    L = p.depth
    alpha, gamma = p.init_exponents(), p.step_exponents()
    a_out = alpha[-1]
    if opt == "sgd":
        # Delta W^l = -eta n^{-gamma_l} chi dh^l x^{l-1,T}; at step 0 dh^l ~ n^{-(a_{L+1}+b_{L+1})}.
        coeff = [-(gamma[i] + a_out) for i in range(L)] + [-gamma[-1]]
    else:
        # Adam's first step is -eta n^{-c_l} sign(grad): Delta W^l ~ n^{-(a_l + c_l)} s_h s_x^T.
        rates = _adam_rates(p, adam_exponents(p) if adam_c is None else adam_c)
        coeff = [-(x + y) for x, y in zip(p.a, rates, strict=True)]

    def act(e: Fraction) -> Fraction:  # size of phi(h + Delta h) - phi(h) given Delta h ~ n^e
        return min(e, ZERO) if phi == "tanh" else e

    def overlap(dh: Fraction, dx: Fraction) -> Fraction:
        """Exponent of <x_0, x_1> (or <sign x_0, x_1> for Adam) over the n coordinates of a layer.

        Coherent (n times the coordinate size of x_1) unless a bounded odd phi saturates: then
        x_1 ~ sign(Delta h), independent of x_0 (the step-0 backward pass is independent of the
        forward one in the limit), and the sum is only a CLT-size n^{1/2}.
        """
        if phi == "tanh":
            return ONE if dh <= 0 else HALF
        return 1 + max(ZERO, dx)

    out: dict[str, Fraction] = {}
    for k in range(1, L + 1):
        out[f"h{k}"] = ZERO
        out[f"x{k}"] = ZERO
    out["f"] = HALF - a_out
    dh = dx = ZERO
    for i in range(L):
        if i == 0:
            dh = coeff[0]  # Delta W^1 xi, <xi, xi> = Theta(1): the input never changes
        else:
            # Delta W^l x^{l-1}_1 (a sum over n coordinates, x_1 = x_0 + Delta x)
            # + W^l_0 Delta x^{l-1} (a_l + b_l = 1/2 keeps the size of Delta x^{l-1}).
            dh = max(coeff[i] + overlap(dh, dx), dx)
        dx = act(dh)
        out[f"dh{i + 1}"] = dh
        out[f"dx{i + 1}"] = dx
    # Delta f = Delta W^{L+1} x^L_1 + W^{L+1}_0 Delta x^L, the second a coherent sum (Delta x^L is
    # correlated with W^{L+1}_0 through the backward pass).
    out["df"] = max(coeff[-1] + overlap(dh, dx), 1 - a_out + dx)
    return out


def layer_contribution_exponents(p: Parametrization) -> dict[int, Fraction]:
    """Exponent of the change of ``f`` after one SGD step when only layer ``l`` is trained.

    The readout (``l = L+1``) contributes ``n^{1 - (2a_{L+1}+c)}``; layer ``l <= L`` contributes
    ``n^{1 - (a_{L+1}+b_{L+1}) - r0_l}`` with ``r0_l`` the step-0 ``r_l`` (the readout at its init).
    Zero exponent = that layer's NTK term survives; used to check :func:`surviving_ntk_layers`.
    """
    _require_init_stable(p)
    alpha, gamma = p.init_exponents(), p.step_exponents()
    a_out = alpha[-1]
    out = {}
    for i in range(p.depth):
        r0 = a_out + gamma[i] - 1 + (1 if i == 0 else 0)
        # only W^l moves: Delta x^l ~ n^{-r0}, carried unchanged (a + b = 1/2) up to x^L (ReLU)
        out[i + 1] = 1 - a_out - r0
    out[p.depth + 1] = 1 - gamma[-1]
    return out
