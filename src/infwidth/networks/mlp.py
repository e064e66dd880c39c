"""Finite-width MLPs whose every layer carries a forward multiplier, an init scale and a learning rate.

:class:`ScaledMLP` is the one network: layer ``l`` computes ``h^l = m_l * (w^l x^{l-1}) + m^b_l * beta^l``
with trained ``w^l``. :class:`AbcMLP` fills in the scales from an abc-parametrization (Tensor Programs IV):
``m_l = n^{-a_l}``, ``w^l ~ N(0, sigma_l^2 n^{-2 b_l})``, SGD rate ``eta n^{-c}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from infwidth import nonlinearities as _nl
from infwidth.errors import UserError, check_depth, check_int
from infwidth.parametrizations.abc import Parametrization
from infwidth.parametrizations.classify import adam_exponents, readout_backward_exponent

#: name -> function for every name of the shared list (:mod:`infwidth.nonlinearities`), aliases included.
NONLINEARITIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    **{name: nl.phi for name, nl in _nl.REGISTRY.items()},
    **{alias: nl.phi for nl in _nl.REGISTRY.values() for alias in nl.aliases},
    "leaky_relu": _nl.get("leaky_relu").phi,
}


def resolve_nonlinearity(phi: str | Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A nonlinearity by any name of :mod:`infwidth.nonlinearities`, or any tensor -> tensor callable."""
    if callable(phi):
        return phi
    return _nl.get(phi).phi


def activation_names(depth: int) -> list[str]:
    """``h1, x1, ..., hL, xL, f``: the activations in forward order (names of the MLP's ``taps``)."""
    return [f"{s}{k}" for k in range(1, depth + 1) for s in "hx"] + ["f"]


def _pow(n: int, e: Fraction | float) -> float:
    """``n ** e`` as a Python float (exact exponent, one rounding)."""
    return float(n) ** float(e)


@dataclass(frozen=True)
class TensorScale:
    """How one trained tensor enters the net: forward multiplier, init std, SGD and Adam rate factors.

    ``adam_eps`` multiplies Adam's epsilon so that reparametrized forms stay exactly equivalent.
    """

    multiplier: float
    init_std: float
    sgd_lr: float
    adam_lr: float
    adam_eps: float = 1.0


class ScaledMLP(nn.Module):
    """MLP ``d_in -> n (x L) -> d_out`` with per-tensor scales; parameters ``w1..w{L+1}``, ``b1..``.

    Init draws standard normals (in ``dtype``, on the CPU) layer by layer, weight then bias, from one
    generator, so two nets built with the same seed and dtype share their Gaussians whatever their
    scales. ``noise(layer, shape)`` may supply those standard normals instead (coordinate check).
    """

    def __init__(
        self,
        width: int,
        d_in: int,
        d_out: int,
        depth: int,
        weight_scales: Sequence[TensorScale],
        bias_scales: Sequence[TensorScale] | None = None,
        nonlinearity: str | Callable[[torch.Tensor], torch.Tensor] = "relu",
        device: Any = None,
        dtype: torch.dtype = torch.float32,
        seed: int | None = None,
        noise: Callable[[int, tuple[int, ...]], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        for value, what in ((width, "width"), (d_in, "d_in"), (d_out, "d_out")):
            check_int(value, what)
        check_depth(depth)
        if len(weight_scales) != depth + 1:
            raise UserError(f"need {depth + 1} weight scales for depth {depth}, got {len(weight_scales)}")
        if bias_scales is not None and len(bias_scales) != depth + 1:
            raise UserError(f"need {depth + 1} bias scales for depth {depth}, got {len(bias_scales)}")
        self.width, self.d_in, self.d_out, self.depth = width, d_in, d_out, depth
        self.weight_scales = tuple(weight_scales)
        self.bias_scales = None if bias_scales is None else tuple(bias_scales)
        self.nonlinearity = _nl.canonical(nonlinearity) if isinstance(nonlinearity, str) else getattr(nonlinearity, "__name__", "callable")
        self.phi = resolve_nonlinearity(nonlinearity)
        # parameter-free identity modules at every h^l, x^l and f: forward hooks on them see the activations
        self.taps = nn.ModuleDict({q: nn.Identity() for q in activation_names(depth)})
        dims = [d_in] + [width] * depth + [d_out]
        gen = torch.Generator(device="cpu")
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed))
        device = torch.device("cpu") if device is None else torch.device(device)

        def draw(layer: int, shape: tuple[int, ...]) -> torch.Tensor:
            if noise is not None:
                return noise(layer, shape)
            return torch.randn(shape, generator=gen, dtype=dtype)

        for k in range(1, depth + 2):
            fan_in, fan_out = dims[k - 1], dims[k]
            z = draw(k, (fan_out, fan_in))
            w = (z * self.weight_scales[k - 1].init_std).to(device=device, dtype=dtype)
            self.register_parameter(f"w{k}", nn.Parameter(w))
            if self.bias_scales is not None:
                zb = draw(k, (fan_out,))
                b = (zb * self.bias_scales[k - 1].init_std).to(device=device, dtype=dtype)
                self.register_parameter(f"b{k}", nn.Parameter(b))

    # ---- forward ------------------------------------------------------------------------------
    def _pre(self, k: int, x: torch.Tensor) -> torch.Tensor:
        out = nn.functional.linear(x, getattr(self, f"w{k}")) * self.weight_scales[k - 1].multiplier
        if self.bias_scales is not None:
            out = out + getattr(self, f"b{k}") * self.bias_scales[k - 1].multiplier
        return out

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Output ``f`` and every hidden ``h^l`` (pre-activation) and ``x^l = phi(h^l)``."""
        acts: dict[str, torch.Tensor] = {}
        taps = self.taps
        for k in range(1, self.depth + 1):
            h = taps[f"h{k}"](self._pre(k, x))
            x = taps[f"x{k}"](self.phi(h))
            acts[f"h{k}"], acts[f"x{k}"] = h, x
        return taps["f"](self._pre(self.depth + 1, x)), acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]

    # ---- optimizers ---------------------------------------------------------------------------
    def _groups(self, rate: Callable[[TensorScale], float], eps: float | None = None) -> list[dict[str, Any]]:
        groups = []
        for k in range(1, self.depth + 2):
            named = [(f"w{k}", getattr(self, f"w{k}"), self.weight_scales[k - 1])]
            if self.bias_scales is not None:
                named.append((f"b{k}", getattr(self, f"b{k}"), self.bias_scales[k - 1]))
            for name, param, scale in named:
                group: dict[str, Any] = {"params": [param], "lr": rate(scale), "name": name, "layer": k}
                if eps is not None:
                    group["eps"] = eps * scale.adam_eps
                groups.append(group)
        return groups

    def sgd(self, lr: float, **kwargs: Any) -> torch.optim.SGD:
        """SGD with rate ``lr`` times each tensor's SGD factor (one param group per tensor)."""
        _check_lr(lr)
        return torch.optim.SGD(self._groups(lambda s: lr * s.sgd_lr), lr=lr, **kwargs)

    def adam(self, lr: float, eps: float = 1e-8, **kwargs: Any) -> torch.optim.Adam:
        """Adam with rate ``lr`` times each tensor's Adam factor (one param group per tensor)."""
        _check_lr(lr)
        return torch.optim.Adam(self._groups(lambda s: lr * s.adam_lr, eps=eps), lr=lr, eps=eps, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"width={self.width}, d_in={self.d_in}, d_out={self.d_out}, depth={self.depth}, "
            f"nonlinearity={self.nonlinearity}, bias={self.bias_scales is not None}"
        )


def _check_lr(lr: float) -> None:
    try:
        ok = float(lr) > 0 and float(lr) != float("inf")
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"learning rate must be a positive finite number, got {lr!r}")


# ---- abc-parametrizations --------------------------------------------------------------------
def readout_bias_exponents(p: Parametrization) -> tuple[Fraction, Fraction]:
    """``(a, b)`` of the readout bias: ``(a_{L+1} - 1/2, 1/2 - a_{L+1})``.

    O(1) init, and its SGD step moves ``f`` at the same order as the readout weights' step does
    (a bias is a readout weight on one constant unit instead of ``n`` of them); it shifts with
    the symmetry, and is width-independent (``0, 0``) in muP (Table 3 form) and NTP.
    """
    a = p.a[-1] - Fraction(1, 2)
    return a, -a


def gradient_exponents(p: Parametrization) -> tuple[Fraction, ...]:
    """Per layer, ``g_l`` with the coordinates of ``dLoss/dW^l`` of size ``n^{-g_l}`` (stable nets).

    Hidden and input layers see the readout, of size ``n^{-min(a_{L+1}+b_{L+1}, 2a_{L+1}+c)}``
    once it has been updated; the readout sees ``x^L = O(1)``.
    """
    g = readout_backward_exponent(p)
    return (g,) * p.depth + (Fraction(0),)


def abc_adam_exponents(p: Parametrization) -> tuple[Fraction, ...]:
    """Per-layer Adam rate exponents ``c_l`` (rate ``eta n^{-c_l}`` on ``w^l``) keeping p's SGD regime.

    Adam's step has O(1) coordinates, so the effective step on ``W^l`` is ``n^{-(c_l + a_l)}``;
    SGD's is ``n^{-(c + 2 a_l + g_l)}`` (see :func:`gradient_exponents`). Equal iff
    ``c_l = c + a_l + g_l``. muP gives effective steps 1, 1/n, 1/n (TP5's Adam table).
    The classification's own rule: :func:`infwidth.parametrizations.classify.adam_exponents`.
    """
    return adam_exponents(p)


@dataclass(frozen=True)
class TensorExponents:
    """One trained tensor in abc terms: multiplier ``n^{-a}``, init ``std n^{-b}``, Adam rate ``n^{-adam_c}``.

    ``std`` is the width-independent init constant (``sigma_l``, over ``sqrt(d_in)`` for layer 1).
    """

    a: Fraction
    b: Fraction
    std: float
    adam_c: Fraction


def abc_tensor_exponents(
    p: Parametrization, d_in: int, bias: bool, bias_std: float
) -> tuple[list[TensorExponents], list[TensorExponents] | None]:
    """Exponents of every weight (and bias) of p's MLP.

    The first layer's init also divides by ``sqrt(d_in)`` (width-independent; NT convention).
    Hidden biases use layer 1's exponents (fan-in 1); the readout bias uses
    :func:`readout_bias_exponents`. Adam rates follow :func:`abc_adam_exponents`.
    """
    adam_c = abc_adam_exponents(p)
    weights = [
        TensorExponents(p.a[k], p.b[k], p.sigma[k] / (d_in**0.5 if k == 0 else 1.0), adam_c[k])
        for k in range(p.depth + 1)
    ]
    if not bias:
        return weights, None
    g = gradient_exponents(p)
    biases = []
    for k in range(p.depth + 1):
        a, b = (p.a[0], p.b[0]) if k < p.depth else readout_bias_exponents(p)
        biases.append(TensorExponents(a, b, bias_std, p.c + a + g[k]))
    return weights, biases


def tensor_scale(e: TensorExponents, n: int, c: Fraction, theta: Fraction = Fraction(0)) -> TensorScale:
    """Scales at width ``n`` after the per-tensor shift ``(a, b, c, adam_c) -> (a+theta, b-theta, c-2theta, adam_c-theta)``.

    Every shift gives the same function at every step (SGD and Adam): the trained tensor becomes
    ``n^theta w``, its gradient ``n^-theta grad``; Adam's epsilon is scaled by ``n^-theta`` to match.
    """
    return TensorScale(
        multiplier=_pow(n, -(e.a + theta)),
        init_std=e.std * _pow(n, -(e.b - theta)),
        sgd_lr=_pow(n, -(c - 2 * theta)),
        adam_lr=_pow(n, -(e.adam_c - theta)),
        adam_eps=_pow(n, -theta),
    )


def check_network_args(p: Any, width: Any, d_in: Any, d_out: Any, bias_std: Any) -> None:
    """One-line errors for what every network constructor takes: a Parametrization, sizes, a bias std."""
    if not isinstance(p, Parametrization):
        raise UserError(f"expected an infwidth Parametrization, got {type(p).__name__}; use e.g. infwidth.parametrizations.mup(depth)")
    for value, what in ((width, "width"), (d_in, "d_in"), (d_out, "d_out")):
        check_int(value, what)
    if not (isinstance(bias_std, (int, float)) and bias_std >= 0):
        raise UserError(f"bias_std must be a number >= 0, got {bias_std!r}")


class AbcMLP(ScaledMLP):
    """The width-``width`` MLP in abc-parametrization ``p`` (Tensor Programs IV), an ordinary nn.Module.

    ``net.sgd(lr)`` trains every tensor at ``lr n^{-c}``; ``net.adam(lr)`` uses the per-layer rates
    of :func:`abc_adam_exponents`.
    """

    def __init__(
        self,
        p: Parametrization,
        width: int,
        d_in: int,
        d_out: int,
        nonlinearity: str | Callable[[torch.Tensor], torch.Tensor] = "relu",
        bias: bool = False,
        bias_std: float = 1.0,
        device: Any = None,
        dtype: torch.dtype = torch.float32,
        seed: int | None = None,
        noise: Callable[[int, tuple[int, ...]], torch.Tensor] | None = None,
    ) -> None:
        check_network_args(p, width, d_in, d_out, bias_std)
        w_exp, b_exp = abc_tensor_exponents(p, d_in, bias, float(bias_std))
        weights = [tensor_scale(e, width, p.c) for e in w_exp]
        biases = None if b_exp is None else [tensor_scale(e, width, p.c) for e in b_exp]
        super().__init__(width, d_in, d_out, p.depth, weights, biases, nonlinearity, device, dtype, seed, noise)
        self.parametrization = p
        self.bias_std = float(bias_std)

    def adam(self, lr: float, eps: float = 1e-8, exponents: Sequence[Any] | None = None, **kwargs: Any) -> torch.optim.Adam:
        """Adam; per-layer rates ``lr n^{-c_l}`` from :func:`abc_adam_exponents`, or from ``exponents``.

        Explicit ``exponents`` (one per layer, e.g. ``(1, 1, 1)`` for SP with a global Adam rate
        ~ 1/n) apply to layer ``l``'s weight and bias alike.
        """
        if exponents is None:
            return super().adam(lr, eps=eps, **kwargs)
        from infwidth.parametrizations.abc import to_fraction

        rates = [to_fraction(x, f"Adam exponent c_{i + 1}") for i, x in enumerate(exponents)]
        if len(rates) != self.depth + 1:
            raise UserError(f"got {len(rates)} Adam exponents for depth {self.depth}; give one per layer (L+1 = {self.depth + 1})")
        _check_lr(lr)
        groups = self._groups(lambda s: 1.0, eps=eps)
        for group in groups:
            group["lr"] = lr * _pow(self.width, -rates[group["layer"] - 1])
        return torch.optim.Adam(groups, lr=lr, eps=eps, **kwargs)
