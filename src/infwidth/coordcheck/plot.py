"""Plots of a coordinate check: RMS vs width per step, predicted slopes dashed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.coordcheck.report import CoordCheck


def draw_sizes(ax: Any, cc: CoordCheck, step: int, quantities: Sequence[str], alpha: float = 0.7) -> None:
    """On ``ax`` (log-log): mean RMS of each quantity at ``step`` vs width, its predicted slope dashed."""
    from infwidth.plotting import plt

    widths = np.asarray(cc.widths, dtype=float)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(quantities)))
    for q, col in zip(quantities, colors, strict=True):
        ys = cc.mean_sizes(q, step)
        ok = np.isfinite(ys) & (ys > 0)
        ax.plot(widths[ok], ys[ok], "o-", color=col, ms=3, label="Δ" + q[1:] if q.startswith("d") else q)
        pred = cc.predicted.get((step, q))
        if pred is not None and ok.any():
            wm, ym = np.exp(np.log(widths[ok]).mean()), np.exp(np.log(ys[ok]).mean())
            ax.plot(widths[ok], ym * (widths[ok] / wm) ** float(pred), "--", color=col, lw=0.9, alpha=alpha)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")


def plot_coordcheck(cc: CoordCheck, out: str | Path, prefix: str = "coordcheck") -> list[Path]:
    """PNG per family (x, h, dx, dh): one panel per step, one curve per layer (+ f), log-log axes,
    each curve's predicted slope drawn dashed beside it."""
    from infwidth.plotting import plt, save_figure

    out = Path(out)
    paths = []
    title = cc.parametrization.name or "abc"
    families = [("x", "x^l", False), ("dx", "Delta x^l", True), ("h", "h^l", False), ("dh", "Delta h^l", True)]
    for fam, label, is_delta in families:
        steps = list(range(1 if is_delta else 0, cc.steps + 1))
        fig, axes = plt.subplots(1, len(steps), figsize=(3.3 * len(steps), 3.2), sharey=True, squeeze=False)
        layer_qs = [f"{fam}{k}" for k in range(1, cc.parametrization.depth + 1)] + ["df" if is_delta else "f"]
        for ax, t in zip(axes[0], steps, strict=True):
            draw_sizes(ax, cc, t, layer_qs)
            ax.set_title(f"step {t}")
            ax.set_xlabel("width")
        axes[0][0].set_ylabel(f"RMS of {label}")
        axes[0][-1].legend(fontsize=7, loc="best")
        fig.suptitle(f"{title} ({cc.optimizer}): RMS {label} vs width (dashed: predicted slope)", fontsize=9)
        paths.append(save_figure(fig, out / f"{prefix}_{fam}.png"))
    return paths
