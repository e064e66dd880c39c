"""Monte-Carlo NNGP and NTK from finite networks in the NT convention: the check on the closed forms.

Each sample is a width-``n`` MLP with weights ``(w_std / sqrt(fan_in)) omega``, biases ``b_std beta``
(omega, beta standard normal, trained). Per sample the empirical NNGP is the readout-marginalised
``w_out^2 <x^L, x'^L> / n + b_out^2`` and the empirical NTK is ``sum_l <df/dtheta_l, df'/dtheta_l>``,
computed from the backward vectors ``delta^l = df/dh^l`` (no autograd; a test checks it against
autograd). Averages over samples converge to :func:`mlp_kernels` as width and samples grow.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from infwidth.errors import UserError, check_int
from infwidth.limits.kernels.mlp import Kernels, MLPKernel
from infwidth.limits.kernels.nonlinearities import Nonlinearity

Tensor = torch.Tensor


def sample_network_kernels(
    x1: Tensor, x2: Tensor, kernel: MLPKernel, width: int, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Empirical (NNGP, NTK) of one random width-``width`` network between ``x1`` and ``x2``."""
    phi: Nonlinearity = kernel.phi
    layers = kernel.layers
    n1 = x1.shape[0]
    x = torch.cat([x1, x2], 0)
    dtype, device = x.dtype, x.device

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)

    acts = [x]  # x^0 .. x^L
    pres = []  # h^1 .. h^L
    weights = []  # effective W^1 .. W^{L+1}
    fan_in = x.shape[1]
    for lay in layers[:-1]:
        w = randn(width, fan_in) * (lay.w_std / fan_in**0.5)
        h = acts[-1] @ w.T
        if lay.b_std:
            h = h + randn(width) * lay.b_std
        weights.append(w)
        pres.append(h)
        acts.append(phi.phi(h))
        fan_in = width
    out = layers[-1]
    w_out = randn(1, fan_in) * (out.w_std / fan_in**0.5)
    weights.append(w_out)
    xl = acts[-1]
    nngp = (xl[:n1] @ xl[n1:].T) * (out.w_std**2 / fan_in) + out.b_std**2
    # backward vectors delta^l = df/dh^l, from the readout down
    ntk = _term(out, xl, torch.ones(x.shape[0], 1, dtype=dtype, device=device), n1)
    delta = torch.ones(x.shape[0], 1, dtype=dtype, device=device)
    for idx in range(len(pres) - 1, -1, -1):
        delta = (delta @ weights[idx + 1]) * phi.dphi(pres[idx])
        ntk = ntk + _term(layers[idx], acts[idx], delta, n1)
    return nngp, ntk


def _term(layer, x_in: Tensor, delta: Tensor, n1: int) -> Tensor:  # noqa: ANN001 - Layer
    """This layer's weighted NTK term: ``<delta, delta'> (w_eff w^2 <x, x'>/fan_in + b_eff b^2)``."""
    fan_in = x_in.shape[1]
    wb = layer.ntk_weight if layer.bias_weight is None else layer.bias_weight
    inputs = (x_in[:n1] @ x_in[n1:].T) * (layer.ntk_weight * layer.w_std**2 / fan_in) + wb * layer.b_std**2
    return inputs * (delta[:n1] @ delta[n1:].T)


def monte_carlo_kernels(
    x1,  # noqa: ANN001 - array-like
    x2=None,  # noqa: ANN001
    *,
    width: int = 1024,
    samples: int = 32,
    seed: int = 0,
    progress: bool = False,
    **kernel_kwargs,  # noqa: ANN003 - same keywords as mlp_kernels
) -> Kernels:
    """Average of ``samples`` finite width-``width`` networks' NNGP and NTK (same keywords as mlp_kernels)."""
    check_int(width, "width")
    check_int(samples, "samples")
    kernel = MLPKernel(**kernel_kwargs)
    from infwidth.limits.kernels.mlp import as_inputs

    a = as_inputs(x1, "x1", kernel.dtype, kernel.device)
    b = a if x2 is None else as_inputs(x2, "x2", kernel.dtype, kernel.device)
    if b.shape[1] != a.shape[1]:
        raise UserError(f"x1 has {a.shape[1]} features but x2 has {b.shape[1]}; both must have the same input dimension")
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    nngp = torch.zeros(a.shape[0], b.shape[0], dtype=kernel.dtype, device=kernel.device)
    ntk = torch.zeros_like(nngp)
    it: range | Callable = range(samples)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"Monte Carlo (width {width})", leave=False)
    with torch.no_grad():
        for _ in it:
            k, t = sample_network_kernels(a, b, kernel, width, gen)
            nngp += k
            ntk += t
    return Kernels(nngp / samples, ntk / samples)


def relative_frobenius(estimate: Tensor, exact: Tensor) -> float:
    """``||estimate - exact||_F / ||exact||_F``: the field's usual agreement measure."""
    return float(torch.linalg.norm(estimate - exact) / torch.linalg.norm(exact))
