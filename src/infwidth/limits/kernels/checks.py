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
    from infwidth.fitting import fit_loglog

    return fit_loglog(widths, gaps).slope


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


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m infwidth.limits.kernels.checks --out DIR``: NTP and SP(c=1) vs their limits, plot + JSON."""
    import argparse
    from pathlib import Path

    from infwidth.parametrizations.abc import ntp, sp
    from infwidth.runs import atomic_write_json, write_run_record

    ap = argparse.ArgumentParser(description="finite networks vs their kernel limit (gap vs width)")
    ap.add_argument("--out", default="kernel-convergence")
    ap.add_argument("--widths", default="64,256,1024,4096")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = synthetic_regression(n_train=16, n_test=32, d=4)
    runs = {"ntp (NTK), lr 0.2": (ntp(2), 0.2), "sp c=1 (NTK of layers 2..3), lr 2": (sp(2, c=1), 2.0)}
    results = {}
    for label, (p, lr) in runs.items():
        results[label] = finite_vs_limit(p, widths, steps=args.steps, lr=lr, seeds=args.seeds, data=data,
                                         progress=True)
        print(f"{label}: gaps {[round(g, 5) for g in results[label].gaps]}, slope {results[label].slope:.3f}")
    plot_convergence(results, out / "gap_vs_width.png")
    summary = {k: v.as_dict() for k, v in results.items()}
    atomic_write_json(out / "results.json", summary)
    write_run_record(out, vars(args), results=summary)


if __name__ == "__main__":  # pragma: no cover
    main()
