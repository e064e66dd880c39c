"""The kernel a kernel-regime abc-parametrization follows, straight from the Parametrization object.

For the finite nets of :class:`infwidth.networks.AbcMLP` (``W^l = n^{-a_l} w^l``, ``w^l ~ N(0,
sigma_l^2 n^{-2b_l})``, the first layer's init also divided by ``sqrt(d_in)``, SGD ``lr n^{-c}`` on
every tensor) one SGD step moves the output by ``-lr sum_l n^{e_l} w_l Theta_l(x, x_b) L'``, where
``Theta_l`` is layer l's term of the NT-convention NTK with stds ``sigma_l`` and (derivation in
docs/kernels.md)::

    e_l     = 2 b_l - c - 2 delta       (l <= L; hidden biases likewise with 2 b_1)
    e_{L+1} = 1 - c - 2 a_{L+1}         (readout weights and bias)
    delta   = a_{L+1} + b_{L+1} - 1/2   (> 0: the readout starts at 0)
    w_1 = d_in / sigma_1^2,  w_l = 1 / sigma_l^2,  bias terms 1 / bias_std^2

Layers with ``e_l = 0`` survive (the paper: NTP -> all, SP with c = 1 -> 2..L+1), those with ``e_l < 0``
vanish. The function-space learning rate is the same ``lr``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from infwidth.errors import UserError, check_int
from infwidth.limits.kernels._recursion import Layer
from infwidth.limits.kernels.mlp import Kernels, MLPKernel
from infwidth.limits.kernels.nonlinearities import Nonlinearity

Tensor = torch.Tensor
HALF = Fraction(1, 2)


def layer_exponents(p: Any) -> tuple[list[Fraction], Fraction]:
    """``([e_1 .. e_{L+1}], e_bias)``: each layer's NTK term scales like ``n^{e_l}`` under SGD."""
    L = p.depth
    delta = p.a[L] + p.b[L] - HALF
    e = [2 * p.b[k] - p.c - 2 * delta for k in range(L)] + [1 - p.c - 2 * p.a[L]]
    e_bias_hidden = -p.c - 2 * p.a[0] - 2 * delta
    return e, e_bias_hidden


@dataclass
class RegimeKernel:
    """Kernel function of a kernel-regime parametrization: ``.ntk`` trains, ``.nngp`` is f_0's covariance.

    ``f0`` is ``"gp"`` (``a_{L+1} + b_{L+1} = 1/2``) or ``"zero"``; with a readout bias the f_0
    covariance keeps the bias's constant ``bias_std^2`` even when the readout weights start at 0.
    """

    parametrization: Any
    kernel: str
    kernel_layers: tuple[int, ...]
    training: MLPKernel
    prior: MLPKernel
    f0: str

    @property
    def dtype(self) -> torch.dtype:
        return self.training.dtype

    @property
    def device(self) -> torch.device:
        return self.training.device

    def __call__(self, x1: Any, x2: Any = None, *, ntk: bool = True) -> Kernels:
        train = self.training(x1, x2, ntk=ntk)
        if self.f0 == "zero" and all(lay.b_std == 0 for lay in self.prior.layers[-1:]):
            return Kernels(torch.zeros_like(train.nngp), train.ntk)
        return Kernels(self.prior.nngp(x1, x2), train.ntk)


def regime_kernel_fn(
    p: Any,
    d_in: int,
    *,
    nonlinearity: str | Callable[[Tensor], Tensor] | Nonlinearity = "relu",
    bias: bool = False,
    bias_std: float = 1.0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    tile: int | None = None,
) -> RegimeKernel:
    """The :class:`RegimeKernel` of parametrization ``p`` for inputs of dimension ``d_in``.

    Raises a one-line UserError unless ``p.classify()`` is in the kernel regime.
    """
    c = p.classify()
    if c.regime != "kernel":
        raise UserError(
            f"{p.name or 'this parametrization'} is in the {c.regime} regime, not the kernel regime; "
            "kernel limits exist only for kernel-regime parametrizations (e.g. ntp, or sp with c=1)"
        )
    check_int(d_in, "d_in")
    if not (isinstance(bias_std, (int, float)) and bias_std >= 0):
        raise UserError(f"bias_std must be a number >= 0, got {bias_std!r}")
    L = p.depth
    e, e_bias = layer_exponents(p)
    ours = tuple(k + 1 for k in range(L + 1) if e[k] == 0)
    if any(x > 0 for x in e) or ours != tuple(c.kernel_layers or ()):
        raise UserError(
            f"the kernel of {p!r} is not supported (layer exponents {[str(x) for x in e]} disagree with the "
            f"classification's surviving layers {c.kernel_layers}); use a preset such as ntp or sp with c=1"
        )
    sigma = p.sigma
    b = float(bias_std) if bias else 0.0
    layers = []
    for k in range(L + 1):
        keep = e[k] == 0
        weight = (d_in if k == 0 else 1.0) / sigma[k] ** 2 if keep else 0.0
        bias_exp = e[L] if k == L else e_bias
        bias_weight = (1.0 / b**2) if (b and bias_exp == 0) else 0.0
        layers.append(Layer(sigma[k], b, weight, bias_weight))
    training = MLPKernel.from_layers(L, nonlinearity, layers, dtype=dtype, device=device, tile=tile)
    delta = p.a[L] + p.b[L] - HALF
    f0 = "gp" if delta == 0 else "zero"
    prior_layers = [Layer(lay.w_std, lay.b_std) for lay in layers]
    if f0 == "zero":  # readout weights start at 0; a readout bias stays O(1)
        prior_layers[-1] = Layer(0.0, b)
    prior = MLPKernel.from_layers(L, nonlinearity, prior_layers, dtype=dtype, device=device, tile=tile)
    return RegimeKernel(p, c.kernel or "ntk", tuple(c.kernel_layers or ()), training, prior, f0)


def regime_kernel(p: Any, x1: Any, x2: Any = None, **kwargs: Any) -> Kernels:
    """``regime_kernel_fn(p, d_in)(x1, x2)``: ``.ntk`` is the kernel SGD follows, ``.nngp`` f_0's covariance."""
    import numpy as np

    d_in = int(x1.shape[1]) if hasattr(x1, "shape") and len(x1.shape) == 2 else int(np.asarray(x1).shape[-1])
    return regime_kernel_fn(p, d_in, **kwargs)(x1, x2)
