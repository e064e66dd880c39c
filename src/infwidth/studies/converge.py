"""Finite muP networks against their infinite-width limit: errors vs width, fitted rates, plots.

The unit of work is :func:`run_point` (one width, one seed, from a picklable :class:`ConvergencePoint`,
returning a JSON-ready dict); :func:`run_convergence` is the loop over it. The limit each model
trains comes from :data:`LIMIT_MODELS` and is used only through the
:class:`~infwidth.limits.interface.Limit` interface.

For each model (``linear1``, ``relu1``, ``tanh1``, ``linear-deep`` presets, or ``mlp``: any depth and
nonlinearity, its limit from the Tensor-Program engine) we train the limit and finite muP
nets of several widths (several seeds each) on the same small regression task with the same SGD,
and measure on held-out inputs the output gap ``|f_n - f_inf|`` (root mean square over seeds, inputs
and outputs, at the last step) and the feature-kernel gap ``||K_n - K_inf||_F / ||K_inf||_F`` (its
root mean square over seeds, the largest over steps), then fit ``log error = slope log n + const``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.errors import Diverged, UserError, check_int
from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit
from infwidth.limits.feature_learning.linear import LinearMupLimit
from infwidth.limits.feature_learning.mean_field import MeanFieldLimit
from infwidth.limits.interface import Limit, Trajectory

DEFAULT_WIDTHS = tuple(2**p for p in range(4, 15))


@dataclass(frozen=True)
class ConvergenceConfig:
    """What to run (picklable, hashable); defaults finish in well under a minute on one CPU core."""

    model: str
    depth: int = 3
    steps: int = 10
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    seeds: int = 16
    lr: float | None = None  # None: 0.5 for the 1-hidden-layer models, 0.2 for linear-deep
    batch: int = 4
    seed: int = 0
    device: str = "cpu"  # tiny tensors: the CPU is usually fastest; "auto" picks a GPU when present
    nonlinearity: str = "relu"  # model "mlp" only
    particles: int = 2**14  # model "mlp": Monte-Carlo particles of the engine's limit
    replicas: int = 8

    def check(self) -> ConvergenceConfig:
        """The checked config, with ``lr`` resolved (one-line errors otherwise)."""
        if self.model not in LIMIT_MODELS:
            raise UserError(f"unknown model {self.model!r}; choose one of {', '.join(LIMIT_MODELS)}")
        for name in ("depth", "steps", "seeds", "batch", "particles", "replicas"):
            check_int(getattr(self, name), name)
        if self.model == "mlp":
            from infwidth import nonlinearities

            phi = nonlinearities.canonical(self.nonlinearity)
            if self.particles < 2 * self.replicas:
                raise UserError(f"particles={self.particles} is too few for {self.replicas} replicas; "
                                f"pass particles >= {2 * self.replicas}")
        if not self.widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.widths):
            raise UserError(f"widths must be integers >= 1, got {list(self.widths)!r}")
        if list(self.widths) != sorted(set(self.widths)):
            raise UserError(f"widths must increase without repeats (got {list(self.widths)}); list them smallest first")
        if len(self.widths) < 2:
            raise UserError("need at least two widths to fit a rate; give e.g. widths (64, 256, 1024)")
        lr = self.lr
        if lr is None:
            lr = 0.2 if self.model == "linear-deep" else 0.5
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise UserError(f"lr must be a positive number, got {lr!r}")
        if self.model == "linear-deep" and self.depth < 2:
            raise UserError("linear-deep needs depth >= 2 (depth 1 is the exact linear1 model)")
        return replace(self, widths=tuple(self.widths), lr=lr,
                       nonlinearity=phi if self.model == "mlp" else self.nonlinearity)


def make_task(model: str, seed: int, dtype: torch.dtype = torch.float64,
              device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
    """16 training points and 9 held-out inputs: 1-D ``sin 3x`` for the nonlinear models (two
    directions for the quadrature: exact to ~1e-13 for tanh), a 2-D linear-ish task otherwise."""
    gen = torch.Generator().manual_seed(int(seed))
    if model in ("relu1", "tanh1"):
        x = 2 * torch.rand(16, 1, generator=gen, dtype=dtype) - 1
        task = (x, torch.sin(3 * x), torch.linspace(-1, 1, 9, dtype=dtype)[:, None])
    else:
        x = torch.randn(16, 2, generator=gen, dtype=dtype) / math.sqrt(2)
        y = x @ torch.tensor([[1.0], [-0.5]], dtype=dtype) + 0.3 * torch.sin(2 * x[:, :1])
        task = (x, y, torch.randn(9, 2, generator=gen, dtype=dtype) / math.sqrt(2))
    return tuple(t.to(device) for t in task)


# model name -> the limit it trains: ``(config, d_in, d_out, device) -> Limit``. A new limit joins the
# study by registering here (``register_model``); the study itself only speaks the Limit interface.
LIMIT_MODELS: dict[str, Callable[[ConvergenceConfig, int, int, Any], Limit]] = {
    "linear1": lambda cfg, d, do, dev: LinearMupLimit(d, do, device=dev),
    "relu1": lambda cfg, d, do, dev: MeanFieldLimit(d, do, "relu", device=dev),
    "tanh1": lambda cfg, d, do, dev: MeanFieldLimit(d, do, "tanh", device=dev),
    "linear-deep": lambda cfg, d, do, dev: DeepLinearMupLimit(d, do, cfg.depth, device=dev),
}
PRESETS = tuple(LIMIT_MODELS)  # limits with a fast path of their own


def _mlp_limit(cfg: ConvergenceConfig, d: int, do: int, dev: Any) -> Limit:
    """Any depth and nonlinearity: the SGD run written as a Tensor Program (the engine's limit)."""
    from infwidth.limits.feature_learning.tp_mlp import TensorProgramMupLimit
    from infwidth.parametrizations.abc import mup

    return TensorProgramMupLimit(mup(cfg.depth), d, do, cfg.nonlinearity, device=dev, particles=cfg.particles,
                                 replicas=cfg.replicas, seed=cfg.seed)


LIMIT_MODELS["mlp"] = _mlp_limit


MODELS = tuple(LIMIT_MODELS)


def register_model(name: str, factory: Callable[[ConvergenceConfig, int, int, Any], Limit]) -> None:
    """Add a model to the study: ``factory(config, d_in, d_out, device)`` returns its :class:`Limit`."""
    LIMIT_MODELS[name] = factory


def make_limit(cfg: ConvergenceConfig, task: tuple[torch.Tensor, ...]) -> Limit:
    """The limit that model ``cfg.model`` trains, for the dimensions of ``task``."""
    x, y, _ = task
    return LIMIT_MODELS[cfg.model](cfg, x.shape[1], y.shape[1], x.device)


def _check_finite(f: torch.Tensor, what: str) -> None:
    """Raise :class:`Diverged` naming the first SGD step where ``f`` (steps first) is not finite."""
    bad = ~torch.isfinite(f.reshape(f.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        raise Diverged(what, f"SGD step {int(bad.nonzero()[0])}", "lower the learning rate `lr`")


def fit_slope(widths: Sequence[int], errors: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``log error = slope log width + intercept``."""
    from infwidth.fitting import fit_loglog

    fit = fit_loglog(widths, errors)
    return fit.slope, fit.intercept


@dataclass
class ConvergenceResult:
    config: dict[str, Any]
    widths: list[int]
    f_error: list[float]  # RMS |f_n - f_inf| at the last step
    f_error_by_step: list[list[float]]  # [width][t]
    kernel_error: list[float]  # max over t of RMS relative Frobenius gap
    kernel_error_by_step: list[list[float]]
    f_slope: float
    kernel_slope: float
    f_intercept: float
    kernel_intercept: float
    limit: dict[str, Any] = field(default_factory=dict)
    limit_kernel_movement: float = 0.0  # ||K_T - K_0||_F / ||K_0||_F in the limit
    limit_f_movement: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConvergencePoint:
    """One point of the sweep: finite net ``index`` (of ``config.seeds``) at width ``width``."""

    config: ConvergenceConfig
    width: int
    index: int

    @property
    def seed(self) -> int:
        return self.config.seed * 100_003 + self.index


@functools.lru_cache(maxsize=4)
def _reference(cfg: ConvergenceConfig) -> tuple[Limit, tuple, Trajectory, torch.Tensor]:
    """The limit, its training arguments, its trajectory (CPU) and ``||K_inf[t]||_F``; computed once per config.

    Deterministic in ``cfg``, so every worker of a distributed sweep computes the same reference.
    """
    from infwidth.device import resolve_device

    task = make_task(cfg.model, cfg.seed, device=resolve_device(cfg.device))
    lim = make_limit(cfg, task)
    x, y, ex = task
    args = (x, y, cfg.lr, cfg.steps, cfg.batch, ex)
    ref = lim.train(*args).cpu()
    _check_finite(ref.f, "the limit's output")
    return lim, args, ref, torch.linalg.matrix_norm(ref.kernel)  # (T+1,)


def run_point(point: ConvergencePoint) -> dict[str, Any]:
    """The unit of work: one finite net against the limit, per step ``t``.

    ``f_sq[t]`` is the mean over held-out inputs and outputs of ``(f_n - f_inf)^2``; ``k_sq[t]`` is
    ``(||K_n - K_inf||_F / ||K_inf||_F)^2``. JSON-ready; the floats are exact float64 values.
    """
    cfg = point.config.check()
    lim, args, ref, knorm = _reference(cfg)
    traj = lim.finite_trajectory(point.width, point.seed, *args).cpu()
    _check_finite(traj.f, f"the output of the width-{point.width} net (seed {point.seed})")
    f_sq = ((traj.f - ref.f) ** 2).mean(dim=(1, 2))
    k_sq = (torch.linalg.matrix_norm(traj.kernel - ref.kernel) / knorm) ** 2
    return {"width": point.width, "index": point.index, "seed": point.seed, "f_sq": f_sq.tolist(),
            "k_sq": k_sq.tolist()}


def run_convergence(
    cfg: ConvergenceConfig,
    progress: Callable[[int], None] | None = None,
    done: dict[int, tuple[list[float], list[float]]] | None = None,
    on_width: Callable[[int, list[float], list[float]], None] | None = None,
) -> ConvergenceResult:
    """Train the limit and ``seeds`` finite nets per width (a loop over :func:`run_point`); errors and slopes.

    ``done`` holds per-width results of an interrupted run (skipped, so a resumed run gives the same
    numbers); ``on_width`` is called after each width (to checkpoint).
    """
    cfg = cfg.check()
    start = time.perf_counter()
    _, _, ref, knorm = _reference(cfg)
    f_err, k_err = [], []
    done = done or {}
    for n in cfg.widths:
        if n in done:
            f_err.append(list(done[n][0]))
            k_err.append(list(done[n][1]))
            if progress is not None:
                progress(cfg.seeds)
            continue
        f_sq = torch.zeros(cfg.steps + 1, dtype=torch.float64)
        k_sq = torch.zeros(cfg.steps + 1, dtype=torch.float64)
        for s in range(cfg.seeds):
            point = run_point(ConvergencePoint(cfg, n, s))
            f_sq += torch.tensor(point["f_sq"], dtype=torch.float64)
            k_sq += torch.tensor(point["k_sq"], dtype=torch.float64)
            if progress is not None:
                progress(1)
        f_err.append((f_sq / cfg.seeds).sqrt().tolist())
        k_err.append((k_sq / cfg.seeds).sqrt().tolist())
        if on_width is not None:
            on_width(n, f_err[-1], k_err[-1])
    f_last = [e[-1] for e in f_err]
    k_max = [max(e) for e in k_err]
    fs, fi = fit_slope(cfg.widths, f_last)
    ks, ki = fit_slope(cfg.widths, k_max)
    return ConvergenceResult(
        config=asdict(cfg), widths=list(cfg.widths), f_error=f_last, f_error_by_step=f_err,
        kernel_error=k_max, kernel_error_by_step=k_err, f_slope=fs, kernel_slope=ks,
        f_intercept=fi, kernel_intercept=ki, limit=dict(ref.info),
        limit_kernel_movement=float(torch.linalg.matrix_norm(ref.kernel[-1] - ref.kernel[0]) / knorm[0]),
        limit_f_movement=float((ref.f[-1] - ref.f[0]).abs().max()),
        seconds=time.perf_counter() - start,
    )


def plot_convergence(results: Sequence[ConvergenceResult], path: str | Path) -> Path:
    """Log-log plot of the output and feature-kernel gaps against width, with the fitted lines."""
    from infwidth.plotting import plt, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for res in results:
        w = np.asarray(res.widths, float)
        label = res.config["model"] + (f" (L={res.config['depth']})" if res.config["model"] == "linear-deep" else "")
        if res.config["model"] == "mlp":
            label = f"mlp L={res.config['depth']} {res.config['nonlinearity']}"
        for ax, err, slope, icpt in ((axes[0], res.f_error, res.f_slope, res.f_intercept),
                                     (axes[1], res.kernel_error, res.kernel_slope, res.kernel_intercept)):
            line = ax.loglog(w, err, "o", label=f"{label}: slope {slope:.2f}")[0]
            ax.loglog(w, np.exp(icpt) * w**slope, "-", color=line.get_color(), alpha=0.6)
    axes[0].set_title("output gap |f_n - f_inf| (RMS, last step)", fontsize=10)
    axes[1].set_title("kernel gap ||K_n - K_inf|| / ||K_inf|| (max over steps)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("width n")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("finite muP networks converge to the muP limit like n^-1/2")
    return save_figure(fig, path)


__all__ = ["LIMIT_MODELS", "MODELS", "PRESETS", "ConvergenceConfig", "ConvergencePoint", "ConvergenceResult", "fit_slope",
           "make_limit", "make_task", "plot_convergence", "register_model", "run_convergence", "run_point"]
