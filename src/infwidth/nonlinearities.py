"""The one list of nonlinearities every view of a network uses (finite nets, kernels, limits, predictions).

Each entry gives its canonical name and accepted aliases, the torch function ``phi`` and its derivative
``phi'``, and the properties the views need:

* ``derivative_ae``: ``phi'`` exists except on a null set (relu at 0), so SGD and the limits' chain
  rule are well defined;
* ``zero_at_zero``: ``phi(0) = 0``;
* ``homogeneous``: positively homogeneous of degree 1 (``phi(t h) = t phi(h)``, ``t > 0``): the
  mean-field limit may integrate on the sphere, blow-ups compound through the layers;
* ``growth``: how ``|phi(h)|`` behaves for large ``|h|``, which is all that the coordinate-size
  predictions depend on once something blows up: ``"linear"`` (relu, leaky relu, identity, gelu:
  ``phi(h) - relu(h) -> 0``), ``"saturating"`` (tanh, erf: bounded, odd, ``phi -> sign``) or
  ``"oscillating"`` (sin: bounded, no limit; no prediction past a blow-up).

The kernel closed forms (arc-cosine, erf, gelu, sin) live with the kernels and are looked up by these
names; any name without one is integrated by quadrature from ``phi`` and ``phi'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from infwidth.errors import UserError

Tensor = torch.Tensor
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
DEFAULT_LEAKY_SLOPE = 0.01  # torch's default negative slope


def _gelu(x: Tensor) -> Tensor:
    return torch.nn.functional.gelu(x)  # exact x Phi(x), not the tanh approximation


def _gelu_prime(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(x / _SQRT2)) + x * torch.exp(-0.5 * x * x) / _SQRT_2PI


def _identity(x: Tensor) -> Tensor:
    return x


def _relu_prime(x: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)


def _tanh_prime(x: Tensor) -> Tensor:
    return 1.0 - torch.tanh(x) ** 2


def _erf_prime(x: Tensor) -> Tensor:
    return (2.0 / math.sqrt(math.pi)) * torch.exp(-x * x)


@dataclass(frozen=True)
class Nonlinearity:
    """One entry of the list: name, function, derivative and the properties the views need."""

    name: str
    phi: Callable[[Tensor], Tensor]
    dphi: Callable[[Tensor], Tensor]
    derivative_ae: bool
    zero_at_zero: bool
    homogeneous: bool
    growth: str  # linear | saturating | oscillating
    aliases: tuple[str, ...] = ()
    slope: float | None = None  # leaky_relu's negative slope

    def __call__(self, x: Tensor) -> Tensor:
        return self.phi(x)


def _leaky(alpha: float) -> Nonlinearity:
    if alpha == 0:
        return REGISTRY["relu"]
    return Nonlinearity(
        name=f"leaky_relu:{alpha:g}",
        phi=lambda x: torch.where(x > 0, x, alpha * x),
        dphi=lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha)),
        derivative_ae=True, zero_at_zero=True, homogeneous=True, growth="linear", slope=alpha,
    )


REGISTRY: dict[str, Nonlinearity] = {
    nl.name: nl
    for nl in (
        Nonlinearity("relu", torch.relu, _relu_prime, True, True, True, "linear", slope=0.0),
        Nonlinearity("tanh", torch.tanh, _tanh_prime, True, True, False, "saturating"),
        Nonlinearity("gelu", _gelu, _gelu_prime, True, True, False, "linear"),
        Nonlinearity("erf", torch.erf, _erf_prime, True, True, False, "saturating"),
        Nonlinearity("sin", torch.sin, torch.cos, True, True, False, "oscillating"),
        Nonlinearity("identity", _identity, torch.ones_like, True, True, True, "linear", aliases=("linear",)),
    )
}
#: Canonical names, plus ``leaky_relu`` (slope 0.01) and ``leaky_relu:ALPHA``.
NAMES: tuple[str, ...] = (*REGISTRY, "leaky_relu")
#: Every accepted spelling (canonical names and aliases), for ``--help`` and messages.
ALL_NAMES: tuple[str, ...] = (*NAMES, *(a for nl in REGISTRY.values() for a in nl.aliases), "leaky_relu:ALPHA")
_ALIASES = {a: nl.name for nl in REGISTRY.values() for a in nl.aliases}


def choices() -> str:
    """``relu, tanh, ..., leaky_relu[:ALPHA]`` for one-line messages."""
    return ", ".join(n for n in NAMES if n != "leaky_relu") + ", leaky_relu[:ALPHA] (identity = linear)"


def get(name: str | Nonlinearity) -> Nonlinearity:
    """The entry for a name, alias or ``leaky_relu:ALPHA``; one-line error for anything else."""
    if isinstance(name, Nonlinearity):
        return name
    if not isinstance(name, str):
        raise UserError(f"nonlinearity must be a name, got {name!r}; choose one of {choices()}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in REGISTRY:
        return REGISTRY[key]
    if key == "leaky_relu" or key.startswith("leaky_relu:"):
        _, _, text = key.partition(":")
        try:
            alpha = float(text) if text else DEFAULT_LEAKY_SLOPE
        except ValueError:
            alpha = float("nan")
        if not math.isfinite(alpha):
            raise UserError(f"leaky_relu needs a finite slope, got {name!r}; write e.g. leaky_relu:0.1")
        return _leaky(alpha)
    raise UserError(f"unknown nonlinearity {name!r}; choose one of {choices()}")


def canonical(name: str | Nonlinearity) -> str:
    """The canonical spelling of a name (``linear`` -> ``identity``)."""
    return get(name).name
