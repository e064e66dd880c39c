"""The exact classification (the paper's section 3) applied to a model's role structure.

The role-level parametrization (input = layer 1, hidden = layers 2..L, output = readout) is
classified by :func:`infwidth.parametrizations.classify`; every verdict is then put on the model's
tensors, and two structures the MLP does not have are checked on top:

* a **tied** embedding/readout matrix ``E`` (entries Theta(1), readout multiplier ``n^-mu`` with
  ``mu = a_{L+1} + b_{L+1}``): its update ``Delta E ~ n^-delta`` (SGD: ``delta = min(r_1, c + 2a_1 + mu)``,
  the input-side and readout-side gradients; Adam: ``delta = a_1 + c_1``) moves the logits by
  ``n^(1 - mu - delta)``, so it needs ``mu + delta >= 1`` (maximal at equality) and ``delta >= 0``;
* **attention logits** ``q.k * head_dim^-e``: ``q`` and ``k`` move by ``n^-r`` coherently, so the
  logits grow like ``d^(1 - r - e)`` after training and like ``d^(1/2 - e)`` at init; stability
  needs ``e >= max(1/2, 1 - r)`` (muP: ``e = 1``, the ``1/d`` attention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from torch import nn

from infwidth.anymodel.apply import attention_exponent, model_parametrization, record_of
from infwidth.anymodel.roles import Roles
from infwidth.errors import UserError
from infwidth.parametrizations.abc import Parametrization, to_fraction
from infwidth.parametrizations.classify import Classification, adam_exponents, classify

HALF = Fraction(1, 2)


@dataclass(frozen=True)
class TensorFailure:
    """A violated condition, the tensor (or attention module) responsible, and its effect."""

    requirement: str
    name: str
    tensor: str
    role: str
    actual: Fraction
    by: Fraction
    effect: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement, "name": self.name, "tensor": self.tensor, "role": self.role,
            "actual": str(self.actual), "by": str(self.by), "effect": self.effect,
        }

    def __str__(self) -> str:
        return f"{self.tensor} ({self.role}): {self.name} needs {self.requirement}, got {self.actual}; {self.effect}"


@dataclass(frozen=True)
class ModelClassification:
    """The classification of a model's parametrization, tensor by tensor."""

    classification: Classification
    roles: Roles
    attention_exponent: Fraction
    stable: bool
    regime: str
    failures: tuple[TensorFailure, ...]
    updated_maximally: dict[str, bool | None]
    explanation: str
    tied_delta: Fraction | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parametrization(self) -> Parametrization:
        return self.classification.parametrization

    @property
    def offending(self) -> list[str]:
        """Tensors (or attention modules) named by the failures, worst first."""
        seen: list[str] = []
        for f in sorted(self.failures, key=lambda f: -f.by):
            if f.tensor not in seen:
                seen.append(f.tensor)
        return seen

    def as_dict(self) -> dict[str, Any]:
        """The MLP classification's JSON with the model's verdicts: ``regime``, ``failures`` (tensors named), ``tensors``."""
        out = self.classification.as_dict()
        out.update({
            "stable": self.stable,
            "regime": self.regime,
            "nontrivial": None if not self.stable else self.classification.nontrivial,
            "failures": [f.as_dict() for f in self.failures],
            "offending_tensors": self.offending,
            "attention_exponent": str(self.attention_exponent),
            "tensors": [
                {"name": t.name, "role": t.role, "n": t.n, "updated_maximally": self.updated_maximally.get(t.name)}
                for t in self.roles.tensors
            ],
            "explanation": self.explanation,
        })
        return out


def _first(roles: Roles, *kinds: str) -> str:
    for kind in kinds:
        found = roles.of(kind)
        if found:
            return found[0].name
    return "-"


def _tensor_for(failure_name: str, cl: Classification, roles: Roles) -> tuple[str, str]:
    """The tensor responsible for one of the MLP classification's failures."""
    if failure_name.startswith("first layer"):
        return _first(roles, "input", "embedding", "tied"), "input"
    if failure_name.startswith("hidden layer"):
        return _first(roles, "hidden"), "hidden"
    if failure_name in ("output bounded at init", "logits stay bounded under the readout's own update"):
        return _first(roles, "output", "tied"), "output"
    # features blow up / move the logits too much: the layer with the smallest r_l
    worst = min(range(len(cl.r_l)), key=lambda i: cl.r_l[i])
    if worst == 0:
        return _first(roles, "input", "embedding", "tied"), "input"
    return _first(roles, "hidden"), "hidden"


def classify_model(
    model: nn.Module | Roles,
    parametrization: str | Parametrization | None = None,
    *,
    optimizer: str = "sgd",
    adam_c: Sequence[Any] | None = None,
    attention: Any = None,
    c: Any = None,
    s: Any = None,
) -> ModelClassification:
    """Classify a parametrized model (its stored record), or roles + ``parametrization``.

    ``optimizer="adam"`` uses the project's Adam exponents (:func:`adam_exponents`, which keep the
    SGD regime) or explicit per-layer ``adam_c`` (e.g. ``(0, 0, 0)``: one width-independent rate).
    """
    if isinstance(model, Roles):
        roles = model
        if parametrization is None:
            raise UserError("classify_model(roles) needs parametrization=, e.g. 'mup'")
        p = model_parametrization(parametrization, roles, c=c, s=s)
        e_attn = attention_exponent(p) if attention is None else to_fraction(attention, "attention exponent")
    elif isinstance(model, nn.Module):
        if parametrization is not None or c is not None or s is not None:
            raise UserError("a parametrized model carries its parametrization; drop parametrization=/c=/s= or pass roles")
        record = record_of(model)
        roles = Roles.from_dict(record["roles"])
        d = record["parametrization"]
        p = Parametrization(a=tuple(d["a"]), b=tuple(d["b"]), c=d["c"], sigma=tuple(d["sigma"]), name=d["name"])
        e_attn = to_fraction(record["attention_exponent"]) if attention is None else to_fraction(attention, "attention exponent")
    else:
        raise UserError(f"classify_model needs an nn.Module or Roles, got {type(model).__name__}")
    opt = str(optimizer).strip().lower()
    if opt not in ("sgd", "adam", "adamw"):
        raise UserError(f"unknown optimizer {optimizer!r}; choose sgd or adam")
    rates = None
    if opt != "sgd":
        rates = adam_exponents(p) if adam_c is None else tuple(to_fraction(x, f"adam_c entry {i + 1}") for i, x in enumerate(adam_c))
        if len(rates) != p.depth + 1:
            raise UserError(f"adam_c has {len(rates)} entries but the model's role structure has {p.depth + 1} layers; give one per layer")
    elif adam_c is not None:
        raise UserError("adam_c applies to optimizer='adam' only")
    cl = classify(p, adam_c=rates)
    failures = []
    untied_readout = bool(roles.of("output"))
    for f in cl.failures:
        if f.name == "logits stay bounded under the readout's own update" and not untied_readout:
            continue  # the readout is the tied matrix, whose own update is checked below
        tensor, role = _tensor_for(f.name, cl, roles)
        failures.append(TensorFailure(f.requirement, f.name, tensor, role, f.actual, f.by, f.effect))
    mu = p.a[-1] + p.b[-1]
    r = cl.r
    tied_delta = None
    tied_max = None
    for t in roles.of("tied"):
        if rates is None:
            tied_delta = min(cl.r_l[0], p.c + 2 * p.a[0] + mu)
        else:
            tied_delta = p.a[0] + rates[0]
        total = mu + tied_delta
        tied_max = total == 1 and tied_delta == 0
        if total < 1:
            failures.append(TensorFailure(
                "mu + delta >= 1", "logits stay bounded under the tied matrix's update", t.name, "tied", total, 1 - total,
                f"the update of {t.name} moves the logits through {t.readout_module} like n^{1 - total}",
            ))
        if tied_delta < 0:
            failures.append(TensorFailure(
                "delta >= 0", "embeddings do not blow up", t.name, "tied", tied_delta, -tied_delta,
                f"the readout-side gradient moves {t.name}'s entries like n^{-tied_delta}",
            ))
        r = min(r, tied_delta)
    r_eff = min(max(r, Fraction(0)), HALF)
    need = max(HALF, 1 - r_eff)
    for a in roles.attention if cl.stable else ():  # r means nothing once the MLP structure is unstable
        if e_attn < need:
            when = "at init" if e_attn < HALF else "after training (q and k move coherently)"
            failures.append(TensorFailure(
                f"e >= {need}", "attention logits stay bounded", a.module, "attention", e_attn, need - e_attn,
                f"q.k * head_dim^-{e_attn} grows like head_dim^{need - e_attn} {when}; use head_dim^-{need} (muP: 1/head_dim)",
            ))
    stable = not failures
    regime = cl.regime if stable else "unstable"
    updated: dict[str, bool | None] = {}
    for t in roles.tensors:
        if not stable or cl.updated_maximally is None or t.role == "finite":
            updated[t.name] = None
        elif t.role == "tied":
            updated[t.name] = tied_max
        elif t.role == "hidden":
            updated[t.name] = cl.updated_maximally[1]
        elif t.role == "output" or t.readout_module is not None:
            updated[t.name] = cl.updated_maximally[-1]
        else:
            updated[t.name] = cl.updated_maximally[0]
    text = _explain(cl, roles, failures, updated, e_attn, opt, stable)
    return ModelClassification(cl, roles, e_attn, stable, regime, tuple(failures), updated, text, tied_delta)


def _explain(
    cl: Classification, roles: Roles, failures: list[TensorFailure], updated: dict[str, bool | None],
    e_attn: Fraction, opt: str, stable: bool,
) -> str:
    name = cl.parametrization.name or "this parametrization"
    how = "SGD" if opt == "sgd" else "Adam"
    if not stable:
        worst = max(failures, key=lambda f: f.by)
        parts = [f"Unstable: {name} under {how} blows up as the width grows; the worst offender is {worst.tensor} "
                 f"({worst.role}): {worst.effect}."]
        others = [f for f in failures if f is not worst]
        if others:
            parts.append("Also: " + "; ".join(f"{f.tensor}: {f.effect}" for f in others) + ".")
        return " ".join(parts)
    maximal = [n for n, u in updated.items() if u]
    not_max = [n for n, u in updated.items() if u is False]
    words = {"feature-learning": "feature learning", "kernel": "kernel regime", "trivial": "trivial"}[cl.regime]
    text = f"Stable, {words} under {how} ({name}; r = {cl.r})."
    if maximal:
        text += f" Updated maximally: {len(maximal)} tensors ({', '.join(maximal[:3])}{', ...' if len(maximal) > 3 else ''})."
    if not_max:
        text += f" Not maximally: {len(not_max)} ({', '.join(not_max[:3])}{', ...' if len(not_max) > 3 else ''})."
    if roles.attention:
        text += f" Attention logits scaled by head_dim^-{e_attn}."
    return text + " " + cl.explanation
