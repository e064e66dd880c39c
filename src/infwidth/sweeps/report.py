"""A sweep's report: the results table, the two Tensor Programs V plots, and the transfer verdict.

``loss_vs_lr.png``: the metric against the learning rate (log2 axis), one curve per width (seed mean,
band = min..max over seeds), one panel per group. ``best_lr_vs_width.png``: the interpolated optimum
``log2 lr*`` against width with its bootstrap standard deviation, and the fitted drift line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.errors import UserError
from infwidth.runs import atomic_write_json
from infwidth.sweeps.runner import summarize
from infwidth.sweeps.store import read_points, read_sweep
from infwidth.sweeps.table import rows, write_table
from infwidth.sweeps.transfer import GroupVerdict, check_transfer, loss_grid


def plot_loss_vs_lr(grids: dict[str, tuple], metric: str, path: Path, verdicts: dict[str, GroupVerdict] | None = None) -> Path:
    """One panel per group: seed-mean metric vs log2 lr, a curve per width; the optimum marked."""
    import warnings

    from infwidth.plotting import plt, save_figure

    fig, axes = plt.subplots(1, len(grids), figsize=(4.4 * len(grids), 3.6), squeeze=False, sharey=True)
    finite_all = np.concatenate([g[3][np.isfinite(g[3])].ravel() for g in grids.values()] + [np.array([np.nan])])
    for ax, (name, (widths, x, _seeds, grid)) in zip(axes[0], grids.items(), strict=True):
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(widths)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, lo, hi = np.nanmean(grid, axis=1), np.nanmin(grid, axis=1), np.nanmax(grid, axis=1)
        for i, w in enumerate(widths):
            ax.plot(x, mean[i], "o-", ms=3, color=colors[i], label=f"width {w}")
            ax.fill_between(x, lo[i], hi[i], color=colors[i], alpha=0.15, lw=0)
            if verdicts and name in verdicts and math.isfinite(verdicts[name].log2_lr_star[i]):
                ax.axvline(verdicts[name].log2_lr_star[i], color=colors[i], ls=":", lw=0.8)
        title = name if not verdicts or name not in verdicts else (
            f"{name}: {'pass' if verdicts[name].passed else 'fail'}, drift {verdicts[name].drift_per_doubling:+.2f}/doubling")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("log2 learning rate")
    if np.isfinite(finite_all).any():  # keep diverged runs from flattening the curves
        best = np.nanmin(finite_all)
        top = np.nanpercentile(finite_all, 75)
        axes[0][0].set_ylim(best - 0.05 * (top - best), top + 0.3 * (top - best))
    axes[0][0].set_ylabel(metric)
    axes[0][-1].legend(fontsize=7)
    return save_figure(fig, path)


def plot_best_lr(verdicts: dict[str, GroupVerdict], path: Path) -> Path:
    """log2 lr* vs width (log2 axis) per group, bootstrap std as error bars, fitted drift dashed."""
    from infwidth.plotting import plt, save_figure

    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for name, v in verdicts.items():
        logw = np.log2(v.widths)
        line = ax.errorbar(logw, v.log2_lr_star, yerr=v.log2_lr_star_std, fmt="o-", capsize=3,
                           label=f"{name} ({'pass' if v.passed else 'fail'}, {v.drift_per_doubling:+.2f}/doubling)")
        if math.isfinite(v.drift_per_doubling):
            fit = np.polyfit(logw, v.log2_lr_star, 1)
            ax.plot(logw, np.polyval(fit, logw), "--", color=line[0].get_color(), lw=0.8)
    ax.set_xlabel("log2 width")
    ax.set_ylabel("log2 lr* (interpolated; ±1 bootstrap sd)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def report(out: str | Path, plots: bool = True) -> dict[str, Any]:
    """Write the table and plots into ``out`` and return the report dict (also ``out/report.json``).

    Keys: ``points``, ``ok``, ``failed``, ``pending``, ``best``, ``errors`` (up to 10 failed points),
    ``files`` and, when the sweep has a ``[transfer]`` section, ``transfer``: ``{group: {"pass",
    "drift_per_doubling", ...}}``.
    """
    out = Path(out)
    sweep = read_sweep(out)
    records = read_points(out)
    table = rows(sweep, records)
    summary = summarize(sweep, records)
    files = [p.name for p in write_table(sweep, records, out)]
    result: dict[str, Any] = {"sweep": sweep.name or sweep.unit, **summary}
    result["errors"] = [{"axes": {k: r[k] for k in sweep.axes}, "error": r["error"]} for r in table if r["status"] != "ok"][:10]
    if sweep.transfer is not None and any(r["status"] == "ok" for r in table):
        spec = sweep.transfer
        group_keys = [spec.group] if spec.group in sweep.axes else [a for a in sweep.axes if a not in (spec.width, spec.lr, spec.seed)]
        try:
            verdicts = check_transfer(table, spec, sweep.metric, axes=list(sweep.axes))
        except UserError as exc:  # e.g. one width so far: the table and counts still stand
            result["transfer_error"] = str(exc)
            verdicts = {}
        result["transfer"] = {name: v.as_dict() for name, v in verdicts.items()}
        result["transfer_tolerance"] = (f"|drift| <= {spec.tolerance_steps:g} grid step(s) across "
                                        f"{spec.over_doublings:g} width doublings")
        if plots and verdicts:
            grids = loss_grid(table, spec, sweep.metric, group_keys)
            files.append(plot_loss_vs_lr(grids, sweep.metric, out / "loss_vs_lr.png", verdicts).name)
            files.append(plot_best_lr(verdicts, out / "best_lr_vs_width.png").name)
    result["files"] = files
    atomic_write_json(out / "report.json", result)
    return result
