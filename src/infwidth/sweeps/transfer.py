"""The transfer check: does the best learning rate stay put as width grows?

For each group (e.g. muP and SP) and width ``n``, the seed-averaged loss on the log2 learning-rate
grid ``x_i = log2 lr_i`` gives the optimum ``x*(n)``: the vertex of the parabola through the best grid
point and its two neighbours,

    x* = x_i - 1/2 [(x_i - x_{i-1})^2 (y_i - y_{i+1}) - (x_i - x_{i+1})^2 (y_i - y_{i-1})]
              / [(x_i - x_{i-1})(y_i - y_{i+1}) - (x_i - x_{i+1})(y_i - y_{i-1})],

clamped to ``[x_{i-1}, x_{i+1}]`` (the best grid point itself when it lies on the grid's edge, which is
flagged). The drift is the least-squares slope ``s`` of ``x*(n)`` against ``log2 n``: how many octaves
the optimum moves per doubling of width (Tensor Programs V: about 0 in muP, about -1 in SP with
Adam, whose optimum rate scales like 1/n). The check passes when

    |s| <= tolerance_steps * h / over_doublings,

``h`` the grid step in octaves: by default at most one grid step across a 16x (4-doubling) width
range. Uncertainty: a bootstrap over seeds (resampling the seeds of every width with replacement and
refitting everything) gives the spread of ``x*(n)`` and of ``s``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from infwidth.errors import UserError
from infwidth.sweeps.spec import TransferSpec


def parabola_vertex(x: Sequence[float], y: Sequence[float]) -> tuple[float, bool]:
    """``(x*, on_edge)``: the interpolated minimiser of ``y(x)`` (non-finite ``y`` counts as the worst value)."""
    y = np.asarray(y, dtype=float)
    finite = np.isfinite(y)
    if not finite.any():
        return math.nan, True
    y = np.where(finite, y, np.nanmax(np.where(finite, y, np.nan)))
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(x[i]), True
    (x0, x1, x2), (y0, y1, y2) = x[i - 1 : i + 2], y[i - 1 : i + 2]
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    if den == 0:
        return float(x1), False
    return float(min(max(x1 - 0.5 * num / den, x0), x2)), False


def _slope(logw: np.ndarray, xs: np.ndarray) -> float:
    return float(np.polyfit(logw, xs, 1)[0])


@dataclass(frozen=True)
class GroupVerdict:
    """The transfer verdict of one group: optimum per width with its bootstrap spread, drift, pass/fail."""

    group: str
    widths: list[int]
    log2_lr_star: list[float]
    log2_lr_star_std: list[float]
    on_edge: list[bool]
    drift_per_doubling: float
    drift_ci: tuple[float, float]
    tolerance_per_doubling: float
    grid_step: float
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (strict JSON: NaN, e.g. no bootstrap from one seed, becomes None)."""
        def clean(x: Any) -> Any:
            return None if isinstance(x, float) and not math.isfinite(x) else x

        return {
            "pass": self.passed, "drift_per_doubling": clean(self.drift_per_doubling),
            "drift_ci90": [clean(x) for x in self.drift_ci], "tolerance_per_doubling": self.tolerance_per_doubling,
            "grid_step_log2": self.grid_step, "widths": self.widths, "log2_lr_star": [clean(x) for x in self.log2_lr_star],
            "log2_lr_star_std": [clean(x) for x in self.log2_lr_star_std],
            "lr_star": [clean(2.0**x) for x in self.log2_lr_star], "on_edge": self.on_edge, "message": self.message,
        }


def _group_name(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    if not keys:
        return "all"
    if len(keys) == 1:
        return str(row[keys[0]])
    return ",".join(f"{k}={row[k]}" for k in keys)


def loss_grid(rows: Sequence[Mapping[str, Any]], spec: TransferSpec, metric: str, group_keys: Sequence[str]):
    """``{group: (widths, log2 lrs, seeds, array[width, seed, lr])}`` of the metric (NaN where failed/missing)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_group_name(row, group_keys), []).append(row)
    out = {}
    for name, members in groups.items():
        widths = sorted({int(r[spec.width]) for r in members})
        lrs = sorted({float(r[spec.lr]) for r in members})
        seeds = sorted({r.get(spec.seed, 0) for r in members}, key=str)
        grid = np.full((len(widths), len(seeds), len(lrs)), np.nan)
        for r in members:
            value = r.get(metric) if r.get("status") == "ok" else None
            if isinstance(value, (int, float)) and math.isfinite(value):
                grid[widths.index(int(r[spec.width])), seeds.index(r.get(spec.seed, 0)), lrs.index(float(r[spec.lr]))] = value
        out[name] = (widths, [math.log2(lr) for lr in lrs], seeds, grid)
    return out


def _optima(grid: np.ndarray, x: list[float]) -> tuple[np.ndarray, np.ndarray]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (every seed diverged)
        curves = np.nanmean(grid, axis=1)
    found = [parabola_vertex(x, curve) for curve in curves]
    return np.array([f[0] for f in found]), np.array([f[1] for f in found])


def check_group(name: str, widths: list[int], x: list[float], grid: np.ndarray, spec: TransferSpec,
                seed: int = 0, incomplete: Sequence[int] = ()) -> GroupVerdict:
    """The verdict for one group from its ``[width, seed, lr]`` loss array.

    ``incomplete``: widths where some learning rate has no finished point yet (a sweep still running).
    Their optimum is computed from what ran but the group cannot pass: a missing rate is not a bad one.
    """
    if len(widths) < 2:
        raise UserError(f"the transfer check needs at least 2 widths, group {name!r} has {len(widths)}; add widths to the sweep")
    if len(x) < 3:
        raise UserError(f"the transfer check needs at least 3 learning rates, group {name!r} has {len(x)}; widen the lr axis")
    step = float(np.median(np.diff(x)))
    tol = spec.tolerance_steps * step / spec.over_doublings
    logw = np.log2(np.asarray(widths, dtype=float))
    xs, edge = _optima(grid, x)
    if not np.isfinite(xs).all():
        bad = [w for w, v in zip(widths, xs, strict=True) if not math.isfinite(v)]
        return GroupVerdict(name, widths, xs.tolist(), [math.nan] * len(widths), edge.tolist(), math.nan, (math.nan, math.nan),
                            tol, step, False, f"{name}: no finite loss at width(s) {', '.join(map(str, bad))}; fix the sweep")
    slope = _slope(logw, xs)
    rng = np.random.default_rng(seed)
    # per width, resample only the seeds that ran there (a partly finished sweep lacks some)
    present = [np.flatnonzero(np.isfinite(grid[i]).any(axis=1)) for i in range(len(widths))]
    n_seeds = min(len(p) for p in present)
    boot_x, boot_s = [], []
    for _ in range(spec.bootstrap if n_seeds > 1 else 0):
        resampled = np.full(grid.shape, np.nan)
        for i, p in enumerate(present):
            resampled[i, : len(p)] = grid[i, rng.choice(p, size=len(p))]
        bx, _ = _optima(resampled, x)
        if np.isfinite(bx).all():
            boot_x.append(bx)
            boot_s.append(_slope(logw, bx))
    spread = np.std(boot_x, axis=0).tolist() if boot_x else [math.nan] * len(widths)  # NaN: one seed, no bootstrap
    ci = (float(np.percentile(boot_s, 5)), float(np.percentile(boot_s, 95))) if boot_s else (math.nan, math.nan)
    ratio = f"{widths[-1] // widths[0]}x" if widths[-1] % widths[0] == 0 else f"{widths[-1] / widths[0]:.3g}x"
    moved = [w for w, v in zip(widths[1:], xs[1:], strict=True)
             if abs(v - xs[0]) > tol * math.log2(w / widths[0]) + 1e-12]
    edges = [w for w, e in zip(widths, edge, strict=True) if e]
    passed = abs(slope) <= tol and not edges and not incomplete
    if incomplete:
        message = (f"{name}: incomplete, width(s) {', '.join(map(str, incomplete))} still lack points on the lr grid; "
                   f"drift so far {slope:+.3f} octaves per doubling (finish the sweep for a verdict)")
    elif edges:
        message = (f"{name}: optimum on the edge of the lr grid at width(s) {', '.join(map(str, edges))}; "
                   "widen the lr axis (its location is unknown)")
    elif passed:
        message = (f"{name}: pass, optimum drifts {slope:+.3f} octaves per width doubling (|drift| <= {tol:.3g}) "
                   f"over widths {widths[0]}..{widths[-1]} ({ratio})")
    else:
        message = (f"{name}: fail, optimum drifts {slope:+.3f} octaves per width doubling (> {tol:.3g} allowed); "
                   f"lr* moves from 2^{xs[0]:.2f} at width {widths[0]} to 2^{xs[-1]:.2f} at width {widths[-1]}; "
                   f"widths beyond tolerance: {', '.join(map(str, moved)) or 'none singly'}")
    return GroupVerdict(name, widths, xs.tolist(), spread, edge.tolist(), slope, ci, tol, step, passed, message)


def check_transfer(rows: Sequence[Mapping[str, Any]], spec: TransferSpec, metric: str = "loss",
                   axes: Sequence[str] | None = None) -> dict[str, GroupVerdict]:
    """One verdict per group. Groups: values of ``spec.group``, or of every axis that is not width/lr/seed."""
    if not rows:
        raise UserError("no finished points to check; run the sweep first")
    if spec.group is not None and spec.group in rows[0]:
        keys = [spec.group]
    else:
        names = axes if axes is not None else list(rows[0])
        keys = [a for a in names if a not in (spec.width, spec.lr, spec.seed)] if axes is not None else []
    for role in (spec.width, spec.lr):
        if role not in rows[0]:
            raise UserError(f"the results have no column {role!r}; set [transfer] width/lr to the sweep's axes")
    ran: dict[str, set[tuple[int, float]]] = {}
    for row in rows:  # finished points (ok or failed); pending ones have no row
        ran.setdefault(_group_name(row, keys), set()).add((int(row[spec.width]), math.log2(float(row[spec.lr]))))
    out = {}
    for name, (widths, x, _seeds, grid) in loss_grid(rows, spec, metric, keys).items():
        incomplete = [w for w in widths if any((w, xi) not in ran[name] for xi in x)]
        out[name] = check_group(name, widths, x, grid, spec, incomplete=incomplete)
    return out
