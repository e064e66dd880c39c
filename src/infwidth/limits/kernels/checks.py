"""Finite networks against the kernel limit: SGD-trained AbcMLPs approach function-space SGD as width grows.

Each finite network and its limit start from the same function (the limit's ``f_0`` is the finite
network at initialisation), see the same minibatches and use the same rate; the gap between their
outputs then closes like ``n^{-1/2}`` (kernel fluctuations at init and kernel drift in training).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from infwidth.errors import UserError
from infwidth.limits.kernels.nonlinearities import get_nonlinearity
from infwidth.limits.kernels.regime import regime_kernel_fn
from infwidth.limits.kernels.training import KernelSGD

Tensor = torch.Tensor


def synthetic_regression(n_train: int = 16, n_test: int = 8, d: int = 4, seed: int = 0) -> dict[str, Tensor]:
    """A small smooth regression task: inputs on the sphere of radius sqrt(d), target a fixed sine ridge."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, d, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(d)
    direction = torch.randn(d, generator=g, dtype=torch.float64)
    y = torch.sin(x @ direction / math.sqrt(d) * 2.0)[:, None]
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}


@dataclass
class ConvergenceResult:
    """Gap between finite networks and the limit, per width (median over seeds), and the fitted rate."""

    widths: list[int]
    gaps: list[float]  # median over seeds of the RMS gap over test points and recorded steps
    gaps_per_seed: list[list[float]]
    slope: float  # fitted exponent: gap ~ width^slope
    trajectories: dict[str, Any] = field(default_factory=dict)  # for plots: steps, limit and finite outputs

    def as_dict(self) -> dict[str, Any]:
        return {"widths": self.widths, "gaps": self.gaps, "gaps_per_seed": self.gaps_per_seed, "slope": self.slope}


def fit_rate(widths: Sequence[int], gaps: Sequence[float]) -> float:
    """Least-squares slope of log(gap) against log(width)."""
    lw, lg = np.log(np.asarray(widths, float)), np.log(np.asarray(gaps, float))
    return float(np.polyfit(lw, lg, 1)[0])


def finite_vs_limit(
    p: Any,
    widths: Sequence[int],
    *,
    nonlinearity: str | Callable[[Tensor], Tensor] = "relu",
    steps: int = 30,
    batch: int = 4,
    lr: float = 0.1,
    seeds: int = 3,
    data: dict[str, Tensor] | None = None,
    bias: bool = False,
    progress: bool = False,
) -> ConvergenceResult:
    """Train AbcMLPs of parametrization ``p`` at each width and the exact limit on the same batches.

    The gap is the RMS over test points and over every step of ``f_net - f_limit``. Uses float64.
    """
    from infwidth.networks import AbcMLP

    if not widths or any((not isinstance(w, int)) or w < 1 for w in widths):
        raise UserError(f"widths must be positive integers, got {widths!r}")
    data = data or synthetic_regression()
    x, y, xt = data["x_train"], data["y_train"], data["x_test"]
    n_train, d = x.shape
    phi = get_nonlinearity(nonlinearity)
    kernel = regime_kernel_fn(p, d, nonlinearity=phi, bias=bias)
    order = torch.Generator().manual_seed(12345)
    batches = [torch.randperm(n_train, generator=order)[:batch] for _ in range(steps)]
    gaps_per_seed: list[list[float]] = []
    traj: dict[str, Any] = {"steps": list(range(steps + 1))}
    iterator: Any = [(w, s) for w in widths for s in range(seeds)]
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="finite vs limit", unit="net", leave=False)
    results: dict[int, list[float]] = {w: [] for w in widths}
    for width, seed in iterator:
        net = AbcMLP(p, width, d, 1, nonlinearity=phi.phi, bias=bias, dtype=torch.float64, seed=1000 * seed + 7)
        net0 = copy.deepcopy(net)

        def f0(z: Tensor, _net: torch.nn.Module = net0) -> Tensor:
            with torch.no_grad():
                return _net(z)

        limit = KernelSGD(kernel, lr=lr, f0=f0)
        opt = net.sgd(lr)
        sq, outs_net, outs_lim = 0.0, [], []
        for t in range(steps + 1):
            with torch.no_grad():
                fn, fl = net(xt), limit.predict(xt)
            sq += float(((fn - fl) ** 2).mean())
            outs_net.append(fn[:, 0].tolist())
            outs_lim.append(fl[:, 0].tolist())
            if t == steps:
                break
            idx = batches[t]
            opt.zero_grad()
            loss = 0.5 * ((net(x[idx]) - y[idx]) ** 2).sum(1).mean()
            loss.backward()
            opt.step()
            limit.step(x[idx], y[idx])
        results[width].append(math.sqrt(sq / (steps + 1)))
        if seed == 0:
            traj.setdefault("finite", {})[width] = outs_net
            traj.setdefault("limit", {})[width] = outs_lim
    gaps_per_seed = [results[w] for w in widths]
    gaps = [float(np.median(g)) for g in gaps_per_seed]  # robust to one unlucky initialisation
    return ConvergenceResult(list(widths), gaps, gaps_per_seed, fit_rate(widths, gaps), traj)
