"""Fit and report: slopes of log RMS against log width, verdicts per quantity, the JSON summary, a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from infwidth.coordcheck.measure import Divergence
from infwidth.fitting import fit_fluctuation, fit_loglog
from infwidth.parametrizations.abc import Parametrization

#: Default slope tolerance: finite-width corrections (relative O(n^{-1/2}) terms) plus seed noise.
BASE_TOLERANCE = 0.1
NOISE_FACTOR = 3.0
#: Pre-asymptotic widths (docs/networks.md, "Pre-asymptotic widths"): see CoordCheck._second_chance.
CORRECTED_CAP = 1.5
MAX_SHARE = 0.5
MIN_CORRECTED_WIDTHS = 3
PASSING = ("pass", "pass (finite-width corrected)")


@dataclass
class SlopeRow:
    """One quantity at one step: fitted and predicted slope, tolerance and verdict."""

    step: int
    quantity: str
    fitted: float | None
    stderr: float | None
    predicted: Fraction | None
    tolerance: float | None
    status: str  # pass | pass (finite-width corrected) | fail | diverged | diverged (predicted growth) | no prediction | not tested (crossover)
    refitted: float | None = None  # slope on the widest half of the widths >= batch (only when the plain fit failed)
    misfit: float | None = None  # slope left unexplained by the predicted law plus fluctuations
    fluctuation_share: float | None = None  # the fluctuations' part of the mean square at the widest width

    @property
    def passed(self) -> bool:
        return self.status not in ("fail", "diverged")

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "quantity": self.quantity,
            "fitted_slope": self.fitted,
            "stderr": self.stderr,
            "predicted_slope": None if self.predicted is None else str(self.predicted),
            "predicted_slope_float": None if self.predicted is None else float(self.predicted),
            "tolerance": self.tolerance,
            "status": self.status,
            "refitted_slope": self.refitted,
            "fluctuation_misfit": self.misfit,
            "fluctuation_share": self.fluctuation_share,
            "pass": self.passed,
        }


@dataclass
class CoordCheck:
    """Everything one coordinate check measured: sizes[width, seed, step, quantity], fits, divergences."""

    parametrization: Parametrization
    widths: list[int]
    seeds: list[int]
    steps: int
    optimizer: str
    lr: float
    sizes: np.ndarray
    names: list[str]
    predicted: dict[tuple[int, str], Fraction | None]
    divergences: list[Divergence] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    base_tolerance: float = BASE_TOLERANCE
    fit_from: int | None = None

    def fit(self, step: int, quantity: str) -> tuple[float | None, float | None]:
        """Least-squares slope of mean-over-seeds log RMS vs log width, and its seed standard error."""
        j = self.names.index(quantity)
        vals = self.sizes[:, :, step, j]
        keep = np.all(np.isfinite(vals) & (vals > 0), axis=1)
        widths = np.asarray(self.widths, dtype=float)
        if self.fit_from is not None:
            keep &= widths >= self.fit_from
        if keep.sum() < 2:
            return None, None
        fit = fit_loglog(widths[keep], vals[keep])
        return fit.slope, fit.stderr

    def rows(self) -> list[SlopeRow]:
        """One verdict per (step, quantity); changes only from step 1 on.

        A size at step ``t >= 1`` is its init value (``n^{e0}``) plus its change (``n^{e1}``); when
        ``e0 != e1`` its log-log curve bends between the two power laws over any finite width range,
        so it is reported but not tested (the init sizes and the changes are tested separately).
        """
        out = []
        for t in range(self.steps + 1):
            for q in self.names:
                if q.startswith("d") and t == 0:
                    continue
                pred = self.predicted.get((t, q))
                slope, se = self.fit(t, q)
                tol = self.base_tolerance + NOISE_FACTOR * (se or 0.0)
                if pred is None:
                    status = "no prediction"
                elif t > 0 and not q.startswith("d") and self.predicted[(0, q)] != self.predicted.get((t, "d" + q)):
                    status = "not tested (crossover)"
                elif slope is None:
                    status = "diverged (predicted growth)" if pred > 0 else "diverged"
                else:
                    status = "pass" if abs(slope - float(pred)) <= tol else "fail"
                row = SlopeRow(t, q, slope, se, pred, None if pred is None else tol, status)
                if status == "fail":
                    self._second_chance(row)
                out.append(row)
        return out

    def _second_chance(self, row: SlopeRow) -> None:
        """A failed slope, retested under the rule of docs/networks.md ("Pre-asymptotic widths").

        Widths below the batch size are dropped (their ``n x batch`` features cannot have the
        batch's rank). The slope refitted on the widest half of the rest (at least two widths) must
        be within ``min(base + 3 SE, CORRECTED_CAP x base)`` of the prediction, and over all of the
        rest the predicted power law with its leading finite-width correction, ``y^2 = n^{2e} (C^2 +
        B/n)``, must leave at most ``base`` of slope unexplained, the correction being at most
        ``MAX_SHARE`` of ``y^2`` at the widest width. A pure power law with another exponent fails.
        """
        if row.predicted is None:
            return
        vals = self.sizes[:, :, row.step, self.names.index(row.quantity)]
        widths = np.asarray(self.widths, dtype=float)
        keep = np.all(np.isfinite(vals) & (vals > 0), axis=1)
        if self.fit_from is not None:
            keep &= widths >= self.fit_from
        batch = self.config.get("batch")
        if batch is not None:
            keep &= widths >= int(batch)
        idx = np.flatnonzero(keep)
        if len(idx) < MIN_CORRECTED_WIDTHS:
            return
        top = idx[len(idx) // 2 :] if len(idx) >= 4 else idx[-2:]
        fit = fit_loglog(widths[top], vals[top])
        fl = fit_fluctuation(widths[idx], vals[idx], float(row.predicted))
        row.refitted, row.misfit, row.fluctuation_share = fit.slope, fl.misfit, fl.share
        tol = min(self.base_tolerance + NOISE_FACTOR * (fit.stderr or 0.0), CORRECTED_CAP * self.base_tolerance)
        if abs(fit.slope - float(row.predicted)) <= tol and fl.misfit <= self.base_tolerance and fl.share <= MAX_SHARE:
            row.status, row.tolerance = "pass (finite-width corrected)", tol

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: config, per-quantity verdicts, divergences and the raw sizes."""
        rows = self.rows()  # one fit per (step, quantity)
        return {
            "config": self.config,
            "parametrization": self.parametrization.as_dict(),
            "passed": all(r.passed for r in rows),
            "tested": sum(r.status in (*PASSING, "fail") for r in rows),
            "tolerance_rule": (
                f"|fitted - predicted| <= {self.base_tolerance} + {NOISE_FACTOR} x seed standard error; a failed slope "
                f"passes if, on widths >= batch, its slope over the widest half is within min(that, "
                f"{CORRECTED_CAP * self.base_tolerance:g}) and n^(2 predicted) (C^2 + B/n) fits the mean square leaving "
                f"<= {self.base_tolerance} of slope unexplained, |B|/n <= {MAX_SHARE} C^2 at the widest width"
            ),
            "quantities": [r.as_dict() for r in rows],
            "divergences": [vars(d) | {"message": str(d)} for d in self.divergences],
            "sizes": {
                str(w): {q: _finite_or_none(self.sizes[i, :, :, j]) for j, q in enumerate(self.names)}
                for i, w in enumerate(self.widths)
            },
        }

    def mean_sizes(self, quantity: str, step: int) -> np.ndarray:
        """Geometric mean over seeds of the RMS of ``quantity`` at ``step``, per width (NaN if diverged)."""
        vals = self.sizes[:, :, step, self.names.index(quantity)]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.exp(np.log(vals).mean(axis=1))


def _finite_or_none(values: np.ndarray) -> list:
    """Nested lists for JSON, non-finite entries (diverged runs) as None (strict JSON has no NaN)."""
    return [[float(v) if np.isfinite(v) else None for v in row] for row in values]


def format_table(cc: CoordCheck, deltas_only: bool = False) -> str:
    """Plain-text table of the verdicts (step, quantity, fitted, predicted, tolerance, status)."""
    lines = [f"{'step':>4}  {'quantity':<8} {'fitted':>8} {'predicted':>9} {'tol':>6}  status"]
    for r in cc.rows():
        if deltas_only and not r.quantity.startswith("d"):
            continue
        fitted = "-" if r.fitted is None else f"{r.fitted:+.3f}"
        pred = "-" if r.predicted is None else str(r.predicted)
        tol = "-" if r.tolerance is None else f"{r.tolerance:.3f}"
        lines.append(f"{r.step:>4}  {r.quantity:<8} {fitted:>8} {pred:>9} {tol:>6}  {r.status}")
    return "\n".join(lines)
