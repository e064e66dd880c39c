"""The practical form (mup / Tensor Programs V's muP tables) of any abc-parametrization, and conversions.

Each tensor is shifted by the per-tensor symmetry ``(a, b, c) -> (a + theta, b - theta, c - 2 theta)``
(Adam: ``adam_c -> adam_c - theta``) so that input, hidden weights and all biases have multiplier 1,
and the readout has a width-independent init (``theta = b_{L+1}``) and multiplier
``n^{-(a_{L+1} + b_{L+1})}`` (``1/fan_in`` in muP). For muP this is TP5's table: input init
``1/fan_in``, SGD rate ``fan_out``; hidden init ``1/fan_in``, rate 1; readout init 1, multiplier
``1/fan_in``, SGD rate ``fan_in``; Adam rates 1, ``1/fan_in``, 1. The function computed at every
SGD or Adam step is the same as the abc form's (the trained tensors differ by ``n^theta``).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import torch

from infwidth.errors import UserError
from infwidth.networks.mlp import (
    NONLINEARITIES,
    AbcMLP,
    ScaledMLP,
    TensorScale,
    abc_tensor_exponents,
    check_network_args,
    tensor_scale,
)
from infwidth.parametrizations.abc import Parametrization


def practical_shifts(p: Parametrization, bias: bool = False) -> tuple[list[Fraction], list[Fraction] | None]:
    """Per-tensor ``theta`` taking p's abc form to the practical form (weights, biases)."""
    w_exp, b_exp = abc_tensor_exponents(p, 1, bias, 1.0)
    weights = [-e.a for e in w_exp[:-1]] + [w_exp[-1].b]
    biases = None if b_exp is None else [-e.a for e in b_exp]
    return weights, biases


class PracticalMLP(ScaledMLP):
    """p's MLP in the practical form: same functions at every step as :class:`AbcMLP` with the same seed.

    ``net.sgd(lr)`` and ``net.adam(lr)`` carry the per-layer rates of the practical form.
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
        weights, biases = form_scales(p, width, d_in, "practical", bias, float(bias_std))
        w_theta, b_theta = practical_shifts(p, bias)
        super().__init__(width, d_in, d_out, p.depth, weights, biases, nonlinearity, device, dtype, seed, noise)
        self.parametrization = p
        self.bias_std = float(bias_std)
        self.shifts = (tuple(w_theta), None if b_theta is None else tuple(b_theta))


def form_scales(
    p: Parametrization, width: int, d_in: int, form: str = "abc", bias: bool = False, bias_std: float = 1.0
) -> tuple[list[TensorScale], list[TensorScale] | None]:
    """Per-tensor scales of p's MLP at ``width`` in the ``"abc"`` or ``"practical"`` form."""
    w_exp, b_exp = abc_tensor_exponents(p, d_in, bias, bias_std)
    if form == "abc":
        w_theta, b_theta = [Fraction(0)] * len(w_exp), None if b_exp is None else [Fraction(0)] * len(b_exp)
    elif form == "practical":
        w_theta, b_theta = practical_shifts(p, bias)
    else:
        raise UserError(f"unknown form {form!r}; choose abc or practical")
    weights = [tensor_scale(e, width, p.c, t) for e, t in zip(w_exp, w_theta, strict=True)]
    biases = None
    if b_exp is not None and b_theta is not None:
        biases = [tensor_scale(e, width, p.c, t) for e, t in zip(b_exp, b_theta, strict=True)]
    return weights, biases


def _convert(net: ScaledMLP, target: type[ScaledMLP], sign: int) -> ScaledMLP:
    p: Parametrization = net.parametrization  # type: ignore[assignment]
    bias = net.bias_scales is not None
    w_theta, b_theta = practical_shifts(p, bias)
    ref = net.w1
    phi = net.nonlinearity if net.nonlinearity in NONLINEARITIES else net.phi
    out = target(
        p, net.width, net.d_in, net.d_out, nonlinearity=phi, bias=bias, bias_std=net.bias_std,  # type: ignore[attr-defined,call-arg]
        device=ref.device, dtype=ref.dtype, seed=0,
    )
    state = {}
    with torch.no_grad():
        for k in range(1, net.depth + 2):
            state[f"w{k}"] = getattr(net, f"w{k}") * float(net.width) ** (sign * float(w_theta[k - 1]))
            if bias and b_theta is not None:
                state[f"b{k}"] = getattr(net, f"b{k}") * float(net.width) ** (sign * float(b_theta[k - 1]))
    out.load_state_dict(state)
    return out


def to_practical(net: AbcMLP) -> PracticalMLP:
    """The practical-form net computing the same function (trained tensors times ``n^theta``)."""
    if not isinstance(net, AbcMLP):
        raise UserError(f"to_practical needs an AbcMLP, got {type(net).__name__}")
    return _convert(net, PracticalMLP, +1)  # type: ignore[return-value]


def to_abc(net: PracticalMLP) -> AbcMLP:
    """The abc-form net computing the same function (trained tensors times ``n^-theta``)."""
    if not isinstance(net, PracticalMLP):
        raise UserError(f"to_abc needs a PracticalMLP, got {type(net).__name__}")
    return _convert(net, AbcMLP, -1)  # type: ignore[return-value]
