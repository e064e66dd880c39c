"""Exact classification of abc-parametrizations (Tensor Programs IV, section 3).

The exponents a finite network shows after one update are in :mod:`.predict`; the paper's table of
named parametrizations, rendered, is in :mod:`.report`.

Everything here is rational arithmetic on two invariants per layer, so it is exactly invariant
under the symmetry ``(a, b, c) -> (a + t, b - t, c - 2t)``:

* ``alpha_l = a_l + b_l``  -- the entries of ``W^l`` at init are ``Theta(n^{-alpha_l})``;
* ``gamma_l = c + 2 a_l``  -- an SGD step moves ``W^l`` by ``n^{-gamma_l}`` times its gradient.

With Adam (per-layer rates ``eta n^{-c_l}``) the second invariant is ``delta_l = a_l + c_l``: the
first Adam step is sign-like, so it moves every entry of ``W^l`` by ``Theta(n^{-delta_l})``.
The derivations are written out in ``docs/classification.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from infwidth.errors import UserError
from infwidth.parametrizations.abc import Number, Parametrization, to_fraction

REGIMES = ("unstable", "trivial", "kernel", "feature-learning")
KERNELS = ("ntk", "nngp", "partial-ntk")

HALF = Fraction(1, 2)
ZERO = Fraction(0)
ONE = Fraction(1)


def _growth(e: Fraction) -> str:
    """Words for a coordinate size ``Theta(n^e)``."""
    if e > 0:
        return f"grows like n^{e}"
    if e < 0:
        return f"vanishes like n^{e}"
    return "stays Theta(1)"


@dataclass(frozen=True)
class Failure:
    """One violated stability condition: what it protects, the relation, the value, the gap."""

    name: str  # readable name, e.g. "logits stay bounded under the readout's update"
    requirement: str  # the relation, e.g. "2a_{L+1} + c >= 1"
    actual: Fraction  # the value of the left-hand side
    by: Fraction  # how far it misses (always > 0)
    effect: str  # what happens as the width grows, e.g. "f moves like n^1 after one step"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requirement": self.requirement,
            "actual": str(self.actual),
            "by": str(self.by),
            "effect": self.effect,
        }

    def __str__(self) -> str:
        return f"{self.name}: needs {self.requirement}, got {self.actual} (off by {self.by}); {self.effect}"


@dataclass(frozen=True)
class Classification:
    """The exact classification of one parametrization (Tensor Programs IV; formulas in docs/classification.md). Fractions are exact."""

    parametrization: Parametrization
    optimizer: str
    r: Fraction
    r_l: tuple[Fraction, ...]  # layers 1..L
    readout_step: Fraction  # SGD: 2a_{L+1} + c; Adam: a_{L+1} + c_{L+1}
    stable: bool
    failures: list[Failure]
    nontrivial: bool | None
    regime: str
    updated_maximally: tuple[bool, ...] | None  # L+1 entries, readout last
    readout_initialized_maximally: bool | None
    kernel: str | None  # SGD kernel regime only: "ntk", "nngp" or "partial-ntk"
    kernel_layers: tuple[int, ...] | None  # kernel regime: layers whose updates still move f
    f0_vanishes: bool
    feature_learning_layers: tuple[int, ...]  # layers l whose features move Theta(1) (stable only)
    explanation: str = field(repr=False)

    @property
    def depth(self) -> int:
        return self.parametrization.depth

    @property
    def feature_learning(self) -> bool:
        return self.regime == "feature-learning"

    @property
    def kernel_regime(self) -> bool:
        return self.regime == "kernel"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: fractions as exact strings such as ``"1/2"``, layers 1-based."""
        return {
            "depth": self.depth,
            "optimizer": self.optimizer,
            "r": str(self.r),
            "r_l": [str(x) for x in self.r_l],
            "stable": self.stable,
            "failures": [f.as_dict() for f in self.failures],
            "nontrivial": self.nontrivial,
            "regime": self.regime,
            "updated_maximally": None if self.updated_maximally is None else list(self.updated_maximally),
            "readout_initialized_maximally": self.readout_initialized_maximally,
            "kernel": self.kernel,
            "kernel_layers": None if self.kernel_layers is None else list(self.kernel_layers),
            "f0_vanishes": self.f0_vanishes,
            "feature_learning_layers": list(self.feature_learning_layers),
            "init_exponents": [str(x) for x in self.parametrization.init_exponents()],
            "readout_step": str(self.readout_step),
            "explanation": self.explanation,
            "parametrization": self.parametrization.as_dict(),
        }


# ---- the classification ------------------------------------------------------------------------
def _adam_rates(p: Parametrization, adam_c: Sequence[Number]) -> tuple[Fraction, ...]:
    rates = tuple(to_fraction(x, f"adam c_{i + 1}") for i, x in enumerate(adam_c))
    if len(rates) != p.depth + 1:
        raise UserError(
            f"`adam_c` has {len(rates)} entries but depth {p.depth} needs L+1 = {p.depth + 1}; "
            "give one per layer (an Adam rate exponent c_l for each)"
        )
    return rates


def _update_exponents(
    p: Parametrization, adam_c: Sequence[Number] | None
) -> tuple[tuple[Fraction, ...], Fraction, str]:
    """``(r_1..r_L, readout step exponent, its formula)`` for SGD or for Adam with rates ``adam_c``."""
    L = p.depth
    gamma = p.step_exponents()
    first = [ONE] + [ZERO] * (L - 1)  # I(l = 1)
    if adam_c is None:
        # Delta W^l = n^{-gamma_l} dh x^T with dh ~ n^{-theta}: theta = min(init, update) of the readout.
        theta = readout_backward_exponent(p)
        r_l = tuple(theta + gamma[i] - 1 + first[i] for i in range(L))
        return r_l, gamma[-1], "2a_{L+1} + c"
    # Adam moves each entry of W^l by n^{-(a_l + c_l)} whatever the gradient's scale.
    rates = _adam_rates(p, adam_c)
    delta = tuple(x + y for x, y in zip(p.a, rates, strict=True))
    r_l = tuple(delta[i] - 1 + first[i] for i in range(L))
    return r_l, delta[-1], "a_{L+1} + c_{L+1}"


def classify(p: Parametrization, adam_c: Sequence[Number] | None = None) -> Classification:
    """Classify ``p`` exactly (SGD with ``p.c``; or Adam with per-layer rate exponents ``adam_c``)."""
    if not isinstance(p, Parametrization):
        raise UserError(f"classify needs a Parametrization, got {type(p).__name__}; build one with preset(...)")
    L = p.depth
    alpha = p.init_exponents()
    a_out = alpha[-1]
    r_l, g_out, g_name = _update_exponents(p, adam_c)
    r = min(r_l)

    failures: list[Failure] = []
    if alpha[0] != 0:
        failures.append(
            Failure(
                "first layer initialized at the right scale",
                "a_1 + b_1 = 0",
                alpha[0],
                abs(alpha[0]),
                f"h^1 at init {_growth(-alpha[0])}",
            )
        )
    for i in range(1, L):
        if alpha[i] != HALF:
            failures.append(
                Failure(
                    f"hidden layer {i + 1} initialized at the right scale",
                    f"a_{i + 1} + b_{i + 1} = 1/2",
                    alpha[i],
                    abs(alpha[i] - HALF),
                    f"h^{i + 1} at init {_growth(HALF - alpha[i])} (relative to h^{i})",
                )
            )
    if a_out < HALF:
        failures.append(
            Failure(
                "output bounded at init",
                "a_{L+1} + b_{L+1} >= 1/2",
                a_out,
                HALF - a_out,
                f"f_0 {_growth(HALF - a_out)}",
            )
        )
    if r < 0:
        failures.append(
            Failure(
                "features do not blow up",
                "r >= 0",
                r,
                -r,
                f"Delta x^L {_growth(-r)} during training",
            )
        )
    if g_out < 1:
        failures.append(
            Failure(
                "logits stay bounded under the readout's own update",
                f"{g_name} >= 1",
                g_out,
                1 - g_out,
                f"the readout's update moves f like n^{1 - g_out}",
            )
        )
    if a_out + r < 1:
        failures.append(
            Failure(
                "logits stay bounded under the feature updates",
                "a_{L+1} + b_{L+1} + r >= 1",
                a_out + r,
                1 - a_out - r,
                f"W^{{L+1}} Delta x^L moves f like n^{1 - a_out - r}",
            )
        )
    stable = not failures

    if stable:
        readout_init_max = a_out + r == 1
        readout_update_max = g_out == 1
        nontrivial: bool | None = readout_init_max or readout_update_max
        regime = "trivial" if not nontrivial else ("feature-learning" if r == 0 else "kernel")
        updated = tuple(x == 0 for x in r_l) + (readout_update_max,)
        fl_layers = tuple(k for k in range(1, L + 1) if min(r_l[:k]) == 0)
    else:
        readout_init_max = None
        nontrivial = None
        regime = "unstable"
        updated = None
        fl_layers = ()

    kernel = kernel_layers = None
    if regime == "kernel":
        kernel_layers = surviving_ntk_layers(p, adam_c)
        if adam_c is not None:
            kernel = None  # Adam's sign-like step is not kernel gradient descent; layers still listed
        elif len(kernel_layers) == L + 1:
            kernel = "ntk"
        elif kernel_layers == (L + 1,):
            kernel = "nngp"
        else:
            kernel = "partial-ntk"

    c = Classification(
        parametrization=p,
        optimizer="sgd" if adam_c is None else "adam",
        r=r,
        r_l=r_l,
        readout_step=g_out,
        stable=stable,
        failures=failures,
        nontrivial=nontrivial,
        regime=regime,
        updated_maximally=updated,
        readout_initialized_maximally=readout_init_max,
        kernel=kernel,
        kernel_layers=kernel_layers,
        f0_vanishes=a_out > HALF,
        feature_learning_layers=fl_layers,
        explanation="",
    )
    object.__setattr__(c, "explanation", explain(c))
    return c


def surviving_ntk_layers(p: Parametrization, adam_c: Sequence[Number] | None = None) -> tuple[int, ...]:
    """1-based layers whose NTK term survives the limit (meaningful in the kernel regime).

    The readout's term ``n^{-(2a_{L+1}+c)} <x^L, x^L>`` is ``Theta(n^{1 - (2a_{L+1}+c)})``: it survives
    iff ``2a_{L+1} + c = 1``. Layer ``l <= L`` moves ``x^L`` by ``n^{-r_l}`` along ``W^{L+1}``, so
    its term ``W^{L+1} Delta x^L`` is ``Theta(n^{1 - (a_{L+1}+b_{L+1}) - r_l})``: it survives iff
    ``a_{L+1} + b_{L+1} + r_l = 1``.
    """
    r_l, g_out, _ = _update_exponents(p, adam_c)
    a_out = p.init_exponents()[-1]
    layers = [i + 1 for i, x in enumerate(r_l) if a_out + x == 1]
    if g_out == 1:
        layers.append(p.depth + 1)
    return tuple(layers)


# ---- explanation in plain words -----------------------------------------------------------------
def _layers_text(layers: Sequence[int], depth: int) -> str:
    names = [("the readout" if k == depth + 1 else f"layer {k}") for k in layers]
    if not names:
        return "no layer"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def explain(c: Classification) -> str:
    """A short paragraph saying what the classification means and why."""
    L = c.depth
    a_out = c.parametrization.init_exponents()[-1]
    opt = "SGD" if c.optimizer == "sgd" else "Adam"
    step_name = "2a_{L+1} + c" if c.optimizer == "sgd" else "a_{L+1} + c_{L+1}"
    if not c.stable:
        parts = [f"Unstable under {opt}: as the width n grows, something blows up or dies."]
        for f in c.failures:
            parts.append(f"{f.requirement} fails ({f.name}): it is {f.actual}, off by {f.by}; {f.effect}.")
        return " ".join(parts)
    init = (
        "f_0 -> 0 at init (a_{L+1} + b_{L+1} > 1/2)"
        if c.f0_vanishes
        else "f_0 is a Gaussian-process sample with the NNGP kernel (a_{L+1} + b_{L+1} = 1/2)"
    )
    if c.regime == "trivial":
        text = (
            f"Stable but trivial under {opt}: f never moves in the limit, because the readout's own update "
            f"({step_name} = {c.readout_step} > 1) and the features' effect on f "
            f"(a_{{L+1}} + b_{{L+1}} + r = {a_out + c.r} > 1) both vanish."
        )
        if c.feature_learning_layers:
            text += (
                f" The features of {_layers_text(c.feature_learning_layers, L)} do move by Theta(1) (r = 0),"
                " but the readout is too small to pass that on to f."
            )
        return text + f" {init}."
    maximal = [i + 1 for i, u in enumerate(c.updated_maximally or ()) if u]
    if c.regime == "feature-learning":
        text = (
            f"Stable, nontrivial, feature learning under {opt}: r = 0, so the features of "
            f"{_layers_text(c.feature_learning_layers, L)} change by Theta(1) during training "
            "(feature learning in a layer carries on to every later layer). "
            f"Updated maximally: {_layers_text(maximal, L)}."
        )
        if c.readout_initialized_maximally:
            text += " The readout is initialized maximally (a_{L+1} + b_{L+1} + r = 1)."
        if maximal == list(range(1, L + 2)) and c.readout_initialized_maximally:
            text += " Every layer is updated maximally: this is muP (up to the symmetry)."
        return text + f" {init}."
    if c.optimizer == "adam":
        return (
            f"Stable, nontrivial, kernel-type regime under Adam: r = {c.r} > 0, so every layer's features "
            f"move by O(n^-{c.r}) and are frozen in the limit, while f still moves by Theta(1) through the "
            f"updates of {_layers_text(c.kernel_layers or (), L)}. Adam's step is a nonlinear (sign-like) "
            f"function of the gradient, so this is not plain kernel gradient descent. {init}."
        )
    kernel_words = {
        "ntk": "the full NTK (every layer's term)",
        "nngp": "the NNGP kernel (only the readout's term: a random-features model)",
        "partial-ntk": f"a partial NTK made of the terms of {_layers_text(c.kernel_layers or (), L)} only",
    }[c.kernel or "ntk"]
    return (
        f"Stable, nontrivial, kernel regime under {opt}: r = {c.r} > 0, so every layer's features move by "
        f"O(n^-{c.r}) and are frozen in the limit, while f still moves by Theta(1). In the limit f follows "
        f"kernel gradient descent with {kernel_words}. {init}. "
        "A kernel limit cannot learn features (the Dynamical Dichotomy)."
    )


def adam_exponents(p: Parametrization) -> tuple[Fraction, ...]:
    """Per-layer Adam rate exponents ``c_l`` (rate ``eta n^{-c_l}``) that keep ``p``'s regime under Adam.

    SGD moves ``W^l`` entrywise by ``n^{-(gamma_l + theta)}`` (``l <= L``, ``theta =
    min(a_{L+1}+b_{L+1}, 2a_{L+1}+c)`` the size of the backward vector) and the readout by
    ``n^{-gamma_{L+1}}``; Adam moves ``W^l`` by ``n^{-(a_l + c_l)}``. Equating gives
    ``c_l = c + a_l + theta`` for ``l <= L`` and ``c_{L+1} = c + a_{L+1}``: the same ``r_l``, the
    same readout step exponent, hence the same classification. For muP in the table form
    (a = -1/2, 0.., 1/2; b = 1/2; c = 0) this is (1/2, 1.., 1/2), which is Tensor Programs V's
    rule (Adam rate 1 for input weights, 1/fan_in for hidden and output with a = 0) after the
    per-layer Adam symmetry ``(a_l, b_l, c_l) -> (a_l + t, b_l - t, c_l - t)``.
    """
    theta = readout_backward_exponent(p)
    return tuple(p.c + a + theta for a in p.a[:-1]) + (p.c + p.a[-1],)


def readout_backward_exponent(p: Parametrization) -> Fraction:
    """``theta = min(a_{L+1} + b_{L+1}, 2 a_{L+1} + c)``: the backward vector ``dh`` of every layer
    ``l <= L`` has coordinates ``~ n^{-theta}`` (the readout at its init size or after its first SGD
    update, whichever is larger). The one place this exponent is computed."""
    return min(p.init_exponents()[-1], p.step_exponents()[-1])
