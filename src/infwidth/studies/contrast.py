"""muP vs NTP on one task: features and their kernel move by Theta(1) in muP, vanish with width in NTP.

Finite ReLU nets from :class:`infwidth.networks.AbcMLP` (same data, same base learning rate, same
steps); on held-out inputs we measure the feature movement ``||X_T - X_0||_F / ||X_0||_F`` of the
last-layer activations (NTP: ``n^{-1/2}``, since ``r = 1/2``) and the kernel movement
``||K_T - K_0||_F / ||K_0||_F`` of ``K = x^L x^L'^T / n`` (NTP: measured ~``n^{-1}``, inside the
``O(n^{-1/2})`` bound: the first-order change of ``K`` averages out, see docs). For one hidden layer the muP limit of that movement comes
from :class:`MeanFieldLimit` (``sigma_u = 1/sqrt(d)``, AbcMLP's first-layer convention).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.limits.feature_learning.mean_field import MeanFieldLimit
from infwidth.limits.sgd import mse, sgd_steps
from infwidth.studies.converge import fit_slope, make_task


@dataclass(frozen=True)
class ContrastConfig:
    """What to run (picklable): widths, depth, SGD steps and rate, seeds per width, base seed."""

    widths: tuple[int, ...] = tuple(2**p for p in range(6, 14))
    depth: int = 1
    steps: int = 10
    lr: float = 0.5
    seeds: int = 4
    seed: int = 0


@dataclass(frozen=True)
class ContrastPoint:
    """One point: parametrization ``name`` ("mup" or "ntp") at ``width``, net ``index`` of ``config.seeds``."""

    config: ContrastConfig
    name: str
    width: int
    index: int


def contrast_point(point: ContrastPoint) -> dict[str, Any]:
    """The unit of work: relative kernel and feature movement of one AbcMLP run (JSON-ready)."""
    cfg = point.config
    task = make_task("linear1", cfg.seed)
    k, f = kernel_movement(point.name, point.width, cfg.depth, cfg.steps, cfg.lr, cfg.seed * 1000 + point.index, task)
    return {"name": point.name, "width": point.width, "index": point.index, "kernel_movement": k,
            "feature_movement": f}


def kernel_movement(name: str, width: int, depth: int, steps: int, lr: float, seed: int,
                    task: tuple[torch.Tensor, ...], batch: int = 4) -> tuple[float, float]:
    """``(relative kernel movement, relative feature movement)`` of one AbcMLP run."""
    from infwidth import preset
    from infwidth.networks import AbcMLP

    x, y, ex = task
    net = AbcMLP(preset(name, depth), width, x.shape[1], y.shape[1], nonlinearity="relu", bias=False,
                 dtype=torch.float64, seed=seed)
    opt = net.sgd(lr)

    def features() -> torch.Tensor:
        with torch.no_grad():
            return net.forward_with_activations(ex)[1][f"x{depth}"].clone()

    x0 = features()
    sgd_steps(net, opt, x, y, steps, batch, mse)
    x1 = features()
    k0, k1 = x0 @ x0.mT / width, x1 @ x1.mT / width
    rel = torch.linalg.matrix_norm
    return float(rel(k1 - k0) / rel(k0)), float(rel(x1 - x0) / rel(x0))


@dataclass
class ContrastResult:
    widths: list[int]
    movement: dict[str, list[float]]  # parametrization -> mean kernel movement per width
    feature_movement: dict[str, list[float]]  # parametrization -> mean feature movement per width
    slopes: dict[str, float]
    feature_slopes: dict[str, float]
    limit_movement: float | None  # muP limit (depth 1 only)
    config: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_contrast(widths: Sequence[int] = tuple(2**p for p in range(6, 14)), depth: int = 1, steps: int = 10,
                 lr: float = 0.5, seeds: int = 4, seed: int = 0) -> ContrastResult:
    """Kernel movement of muP and NTP ReLU nets against width (a loop over :func:`contrast_point`),
    fitted slopes and the muP limit."""
    start = time.perf_counter()
    config = ContrastConfig(tuple(widths), depth, steps, lr, seeds, seed)
    task = make_task("linear1", seed)
    movement: dict[str, list[float]] = {}
    feature: dict[str, list[float]] = {}
    for name in ("mup", "ntp"):
        runs = [[contrast_point(ContrastPoint(config, name, n, s)) for s in range(seeds)] for n in widths]
        movement[name] = [float(np.mean([r["kernel_movement"] for r in per])) for per in runs]
        feature[name] = [float(np.mean([r["feature_movement"] for r in per])) for per in runs]
    slopes = {k: fit_slope(widths, v)[0] for k, v in movement.items()}
    feature_slopes = {k: fit_slope(widths, v)[0] for k, v in feature.items()}
    limit = None
    if depth == 1:
        x, y, ex = task
        lim = MeanFieldLimit(x.shape[1], y.shape[1], "relu", sigma_u=1 / np.sqrt(x.shape[1]))
        run = lim.train(x, y, lr, steps, 4, ex, estimate_error=False)
        limit = float(torch.linalg.matrix_norm(run.kernel[-1] - run.kernel[0]) / torch.linalg.matrix_norm(run.kernel[0]))
    cfg = {"widths": list(widths), "depth": depth, "steps": steps, "lr": lr, "seeds": seeds, "seed": seed,
           "nonlinearity": "relu", "task": "make_task('linear1')"}
    return ContrastResult(list(widths), movement, feature, slopes, feature_slopes, limit, cfg,
                          time.perf_counter() - start)


def plot_contrast(res: ContrastResult, path: str | Path) -> Path:
    """Log-log: kernel movement vs width for muP (flat) and NTP (slope -1/2)."""
    from infwidth.plotting import plt, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    w = np.asarray(res.widths, float)
    for name, label in (("mup", "muP"), ("ntp", "NTP")):
        axes[0].loglog(w, res.movement[name], "o-", label=f"{label} (slope {res.slopes[name]:.2f})")
        axes[1].loglog(w, res.feature_movement[name], "o-", label=f"{label} (slope {res.feature_slopes[name]:.2f})")
    if res.limit_movement is not None:
        axes[0].axhline(res.limit_movement, color="k", ls="--", lw=1, label="muP limit")
    axes[0].set_ylabel("||K_T - K_0||_F / ||K_0||_F")
    axes[1].set_ylabel("||x^L_T - x^L_0||_F / ||x^L_0||_F")
    axes[0].set_title("feature-kernel movement")
    axes[1].set_title("feature (activation) movement")
    for ax in axes:
        ax.set_xlabel("width n")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"muP vs NTP, same task, {res.config['steps']} SGD steps at lr {res.config['lr']} "
                 f"(ReLU, L={res.config['depth']})")
    return save_figure(fig, path)


__all__ = ["ContrastConfig", "ContrastPoint", "ContrastResult", "contrast_point", "kernel_movement", "plot_contrast",
           "run_contrast"]
