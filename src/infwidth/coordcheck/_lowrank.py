"""The MLP-only fast path of the coordinate check: SGD runs computed without forming any weight update.

Exact up to floating-point summation order (tests compare it with :func:`.measure.measure` through
forward hooks and ``torch.optim.SGD``); several times faster at wide inputs, where forming the
``n x d_in`` first layer and its updates dominates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from infwidth import losses as _losses
from infwidth.coordcheck.measure import rms_all
from infwidth.coordcheck.predict import quantity_names
from infwidth.networks.mlp import ScaledMLP, TensorScale


def _rms_stacked(hidden: torch.Tensor, f: torch.Tensor, hidden0: torch.Tensor, f0: torch.Tensor) -> np.ndarray:
    """RMS of ``h1, x1, .., f`` and of their changes, with the hidden layers stacked (few big passes)."""
    scale = 1.0 / math.sqrt(hidden[0].numel())
    sizes = torch.linalg.vector_norm(hidden, dim=(1, 2)) * scale
    deltas = torch.linalg.vector_norm(hidden - hidden0, dim=(1, 2)) * scale
    fs = torch.stack([torch.linalg.vector_norm(f), torch.linalg.vector_norm(f - f0)]) / math.sqrt(f.numel())
    return torch.cat([sizes, fs[:1], deltas, fs[1:]]).cpu().double().numpy()


class _NestedNoise:
    """Standard normals drawn once per seed at the largest width; smaller widths take the top-left block.

    Every net is still exactly iid-Gaussian initialized; nets of different widths share their
    Gaussians (common random numbers), which makes slope fits less noisy and init cheaper.
    """

    def __init__(self, seed: int, dims: list[tuple[int, int]], dtype: torch.dtype, first_rank: int | None = None) -> None:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.tensors = []
        if first_rank is not None:  # only the first layer's image of the inputs is needed (see _first_layer_image)
            dims = [(dims[0][0], first_rank)] + dims[1:]
        for fan_out, fan_in in dims:
            self.tensors.append(
                (torch.randn(fan_out, fan_in, generator=gen, dtype=dtype), torch.randn(fan_out, generator=gen, dtype=dtype))
            )

    def __call__(self, layer: int, shape: tuple[int, ...]) -> torch.Tensor:
        w, b = self.tensors[layer - 1]
        return w[: shape[0], : shape[1]] if len(shape) == 2 else b[: shape[0]]


def _first_layer_image(x: torch.Tensor, noise: _NestedNoise, n: int) -> torch.Tensor:
    """``x W^T`` for an ``n x d_in`` iid N(0,1) matrix ``W``, drawn with ``n * rank(x)`` normals only.

    With ``x^T = Q R`` (reduced QR, ``Q`` orthonormal columns), ``x W^T = R^T (W Q)^T`` and ``W Q`` is
    again iid N(0,1): exact in distribution. The first layer is never needed otherwise (its SGD
    updates act through ``x`` alone), so the ``n x d_in`` matrix is never drawn.
    """
    _, r = torch.linalg.qr(x.double().T, mode="reduced")
    return r.T.to(x.dtype) @ noise.tensors[0][0][:n].T


def measure_sgd_lowrank(
    net: ScaledMLP, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, loss: str = "cross_entropy"
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """Same as :func:`measure` with ``net.sgd(lr)``, computed without forming any weight update.

    SGD keeps every effective weight low-rank around its init: ``M_t = M_0 - sum_s eta dh_s^T x_s``
    (``eta = lr * rate * multiplier^2``), so ``x M_t^T = x M_0^T - sum_s eta (x x_s^T) dh_s``. A step
    then costs one forward and one backward-data product with ``M_0``: no weight gradients, no
    ``n x n`` updates. Exact up to floating-point summation order. ``net`` is not modified.
    """
    weights = [getattr(net, f"w{k}").detach() for k in range(1, net.depth + 2)]
    return _lowrank_sgd(weights, list(net.weight_scales), net.phi, x, y, lr, steps, loss)


def _lowrank_sgd(
    weights: list[torch.Tensor],
    scales: list[TensorScale],
    phi: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    loss: str,
    init_factor: Sequence[float] | None = None,
    first_image: torch.Tensor | None = None,
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """Low-rank SGD measurement on raw tensors: ``M_0 = multiplier * init_factor * weights[k]``.

    ``first_image`` (``x W_1^T`` before scaling) replaces ``weights[0]``, which may then be None.
    """
    depth = len(weights) - 1
    names = quantity_names(depth)
    half = len(names) // 2
    sizes = np.full((steps + 1, len(names)), np.nan)
    lossf = _losses.get(loss)
    factors = [1.0] * len(weights) if init_factor is None else list(init_factor)
    mults = [s.multiplier * fac for s, fac in zip(scales, factors, strict=True)]
    etas = [lr * s.sgd_lr * s.multiplier**2 for s in scales]
    past_in: list[torch.Tensor | None] = [None] * len(weights)  # stacked x_s (rows), per layer
    past_dh: list[torch.Tensor | None] = [None] * len(weights)  # stacked -eta dh_s, per layer
    first: torch.Tensor | None = None
    first_f: torch.Tensor | None = None
    # the input never changes: the first layer's image of it is computed once
    base_h1 = (torch.nn.functional.linear(x, weights[0]) if first_image is None else first_image) * mults[0]
    for t in range(steps + 1):
        inputs, pre, now = [], [], []
        xin = x
        for i, (w, m) in enumerate(zip(weights, mults, strict=True)):
            low = None if past_in[i] is None else (xin @ past_in[i].T) @ past_dh[i]  # type: ignore[union-attr]
            if i == 0:
                h = (base_h1 if low is None else base_h1 + low).detach().requires_grad_(True)
            elif low is None:
                h = torch.mm(xin, w.t()).mul_(m)
            else:
                h = torch.addmm(low, xin, w.t(), alpha=m)  # one fused call: fewer passes over (batch, n)
            inputs.append(xin)
            pre.append(h)
            if i < depth:
                xin = phi(h)
                now += [h, xin]
        f = pre[-1]
        with torch.no_grad():
            hidden = torch.stack([a.detach() for a in now])  # (2L, batch, n): one pass for all layers
            if first is None:
                first, first_f = hidden, f.detach().clone()
            row = _rms_stacked(hidden, f.detach(), first, first_f)  # type: ignore[arg-type]
            if not np.isfinite(row).all():  # overflowing squares vs true inf/NaN: redo per tensor
                now.append(f)
                firsts = list(first) + [first_f]
                row = rms_all([a.detach() for a in now] + [(a - a0).detach() for a, a0 in zip(now, firsts, strict=True)])
        sizes[t] = row
        bad = ~np.isfinite(row[:half])
        if bad.any():
            return sizes, (t, names[int(np.argmax(bad))])
        if t == steps:
            break
        grads = torch.autograd.grad(lossf(f, y), pre)
        with torch.no_grad():
            for i, (xi, g) in enumerate(zip(inputs, grads, strict=True)):
                xi, g = xi.detach(), -etas[i] * g
                past_in[i] = xi if past_in[i] is None else torch.cat([past_in[i], xi])  # type: ignore[list-item]
                past_dh[i] = g if past_dh[i] is None else torch.cat([past_dh[i], g])  # type: ignore[list-item]
    return sizes, None
