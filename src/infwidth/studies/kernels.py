"""Finite networks against the kernel limit: SGD-trained AbcMLPs approach function-space SGD as width grows.

Each finite network and its limit start from the same function (the limit's ``f_0`` is the finite
network at initialisation), see the same minibatches and use the same rate; the gap between their
outputs then closes like ``n^{-1/2}`` (kernel fluctuations at init and kernel drift in training).

The unit of work is :func:`kernel_point` (one width, one seed, from a picklable
:class:`KernelConvergencePoint`, returning a JSON-ready dict); :func:`finite_vs_limit` loops over it.
Rerun from the command line: ``infwidth kernel-converge --out DIR``.
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
from infwidth.limits.kernels.limit import KernelRegimeLimit

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
    from infwidth.fitting import fit_loglog

    return fit_loglog(widths, gaps).slope


@dataclass(frozen=True)
class KernelConvergenceConfig:
    """What to run (picklable): a parametrization, widths, the SGD run, and the synthetic task's shape."""

    parametrization: Any
    widths: tuple[int, ...]
    nonlinearity: str | Callable[[Tensor], Tensor] = "relu"
    steps: int = 30
    batch: int = 4
    lr: float = 0.1
    seeds: int = 3
    bias: bool = False
    n_train: int = 16
    n_test: int = 8
    d: int = 4
    data_seed: int = 0

    def check(self) -> KernelConvergenceConfig:
        """One-line errors for widths that are not positive integers."""
        widths = self.widths
        if not widths or any((not isinstance(w, int)) or isinstance(w, bool) or w < 1 for w in widths):
            raise UserError(f"widths must be positive integers, got {widths!r}")
        return self

    def data(self) -> dict[str, Tensor]:
        return synthetic_regression(self.n_train, self.n_test, self.d, self.data_seed)


@dataclass(frozen=True)
class KernelConvergencePoint:
    """One point: the finite net of seed index ``seed`` at ``width``, trained beside the limit."""

    config: KernelConvergenceConfig
    width: int
    seed: int


def kernel_point(point: KernelConvergencePoint, data: dict[str, Tensor] | None = None) -> dict[str, Any]:
    """The unit of work: one AbcMLP and the exact limit started from it, on the same batches (float64).

    ``gap`` is the RMS over test points and over every step of ``f_net - f_limit``; ``finite`` and
    ``limit`` are the first output on the test points at every step. ``data`` overrides the config's
    synthetic task (same dict as :func:`synthetic_regression`).
    """
    cfg = point.config
    data = data or cfg.data()
    x, y, xt = data["x_train"], data["y_train"], data["x_test"]
    n_train, d = x.shape
    lim = KernelRegimeLimit(cfg.parametrization, d, 1, nonlinearity=cfg.nonlinearity, bias=cfg.bias)
    order = torch.Generator().manual_seed(12345)
    batches = [torch.randperm(n_train, generator=order)[: cfg.batch] for _ in range(cfg.steps)]
    net = lim.sample(point.width, 1000 * point.seed + 7)
    net0 = copy.deepcopy(net)

    def f0(z: Tensor) -> Tensor:
        with torch.no_grad():
            return net0(z)

    limit = lim.sgd(cfg.lr, f0=f0)
    opt = net.sgd(cfg.lr)
    sq, outs_net, outs_lim = 0.0, [], []
    for t in range(cfg.steps + 1):
        with torch.no_grad():
            fn, fl = net(xt), limit.predict(xt)
        sq += float(((fn - fl) ** 2).mean())
        outs_net.append(fn[:, 0].tolist())
        outs_lim.append(fl[:, 0].tolist())
        if t == cfg.steps:
            break
        idx = batches[t]
        opt.zero_grad()
        loss = 0.5 * ((net(x[idx]) - y[idx]) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
        limit.step(x[idx], y[idx])
    return {"width": point.width, "seed": point.seed, "gap": math.sqrt(sq / (cfg.steps + 1)),
            "finite": outs_net, "limit": outs_lim}


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

    A loop over :func:`kernel_point`. The gap is the RMS over test points and over every step of
    ``f_net - f_limit``. Uses float64.
    """
    cfg = KernelConvergenceConfig(p, tuple(widths) if isinstance(widths, (list, tuple)) else widths,
                                  nonlinearity, steps, batch, lr, seeds, bias).check()
    data = data or cfg.data()
    traj: dict[str, Any] = {"steps": list(range(steps + 1))}
    iterator: Any = [(w, s) for w in widths for s in range(seeds)]
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="finite vs limit", unit="net", leave=False)
    results: dict[int, list[float]] = {w: [] for w in widths}
    for width, seed in iterator:
        point = kernel_point(KernelConvergencePoint(cfg, width, seed), data)
        results[width].append(point["gap"])
        if seed == 0:
            traj.setdefault("finite", {})[width] = point["finite"]
            traj.setdefault("limit", {})[width] = point["limit"]
    gaps_per_seed = [results[w] for w in widths]
    gaps = [float(np.median(g)) for g in gaps_per_seed]  # robust to one unlucky initialisation
    return ConvergenceResult(list(widths), gaps, gaps_per_seed, fit_rate(widths, gaps), traj)


def plot_convergence(results: dict[str, ConvergenceResult], path: Any) -> Any:
    """Log-log plot of the gap vs width for each named result, with fitted slopes and n^{-1/2}."""
    from infwidth.plotting import plt, save_figure

    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for label, res in results.items():
        ax.loglog(res.widths, res.gaps, "o-", label=f"{label}: slope {res.slope:.2f}")
    first = next(iter(results.values()))
    ax.loglog(first.widths, [first.gaps[0] * (w / first.widths[0]) ** -0.5 for w in first.widths], "k--", lw=1,
              label="n^{-1/2}")
    ax.set_xlabel("width n")
    ax.set_ylabel("RMS gap to the kernel limit")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


__all__ = ["ConvergenceResult", "KernelConvergenceConfig", "KernelConvergencePoint", "finite_vs_limit", "fit_rate",
           "kernel_point", "plot_convergence", "synthetic_regression"]
