"""Fit and report: slopes of log RMS against log width, verdicts per quantity, the JSON summary, a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from infwidth.coordcheck.measure import Divergence
from infwidth.fitting import fit_corrected_exponent, fit_fluctuation, fit_loglog
from infwidth.parametrizations.abc import Parametrization

#: Default slope tolerance: finite-width corrections (relative O(n^{-1/2}) terms) plus seed noise.
BASE_TOLERANCE = 0.1
NOISE_FACTOR = 3.0
#: Pre-asymptotic widths (docs/networks.md, "Pre-asymptotic widths"): see CoordCheck._second_chance.
CORRECTED_CAP = 1.5
MAX_SHARE = 0.5
MIN_CORRECTED_WIDTHS = 3
PASSING = ("pass", "pass (finite-width corrected)")
INCONCLUSIVE = "inconclusive"
#: Per-quantity and overall verdicts; ``passed`` (a bool) is false only on "fail".
VERDICTS = ("pass", "fail", "inconclusive")


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
    corrected: float | None = None  # exponent s of n^{2s} (C^2 + B/n) fitted freely (only when the plain fit failed)
    corrected_stderr: float | None = None  # its seed standard error
    crossover: float | None = None  # |B| / C^2: the width where the correction equals the leading term
    curvature: float | None = None  # how much nearer the prediction the widest half's slope is than the narrowest half's
    reason: str = ""  # why the verdict is what it is (always set for fail and inconclusive)

    @property
    def passed(self) -> bool:
        return self.status not in ("fail", "diverged")

    @property
    def verdict(self) -> str | None:
        """"pass", "fail" or "inconclusive" for a tested quantity; None when nothing was tested."""
        if self.status in PASSING:
            return "pass"
        if self.status in ("fail", "diverged"):
            return "fail"
        if self.status == INCONCLUSIVE:
            return INCONCLUSIVE
        return None

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
            "corrected_slope": self.corrected,
            "corrected_stderr": self.corrected_stderr,
            "crossover_width": self.crossover,
            "curvature": self.curvature,
            "verdict": self.verdict,
            "reason": self.reason,
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
                elif status == "diverged":
                    row.reason = "not finite at some width although no growth is predicted"
                out.append(row)
        return out

    def _second_chance(self, row: SlopeRow) -> None:
        """A failed slope, retested under the rules of docs/networks.md ("Pre-asymptotic widths").

        Widths below the batch size are dropped (their ``n x batch`` features cannot have the
        batch's rank) when three or more remain. (a) *Pass (finite-width corrected)*: the slope
        refitted on the widest half (at least two widths) is within ``min(base + 3 SE,
        CORRECTED_CAP x base)`` of the prediction ``e`` and ``n^{2e} (C^2 + B/n)`` fits the mean square
        leaving at most ``base`` of slope unexplained, the correction at most ``MAX_SHARE`` of
        ``C^2`` at the widest width. Otherwise the exponent ``s`` of ``n^{2s} (C^2 + B/n)`` is fitted
        freely, per seed: (b) *fail* when even ``s`` misses ``e`` by more than ``base + 3 SE(s)``
        (the same rule as the plain slope, once the leading correction is taken out), unless the
        log-log curve bends towards ``e`` (the widest half's slope nearer ``e`` than the narrowest
        half's by more than ``base + 3 SE``: *inconclusive*, the narrow widths are pre-asymptotic in a
        way no single correction describes); (c) *pass*
        when ``|s - e| + 3 SE(s) <= base`` and the widest width is past ``2 |B| / C^2``; (d)
        *inconclusive* otherwise: the data allow both the prediction and a wrong exponent.
        """
        if row.predicted is None:
            return
        e = float(row.predicted)
        vals = self.sizes[:, :, row.step, self.names.index(row.quantity)]
        widths = np.asarray(self.widths, dtype=float)
        keep = np.all(np.isfinite(vals) & (vals > 0), axis=1)
        if self.fit_from is not None:
            keep &= widths >= self.fit_from
        batch = self.config.get("batch")
        above = keep & (widths >= int(batch)) if batch is not None else keep
        if above.sum() >= MIN_CORRECTED_WIDTHS:
            idx = np.flatnonzero(above)
            top = idx[len(idx) // 2 :] if len(idx) >= 4 else idx[-2:]
            fit = fit_loglog(widths[top], vals[top])
            fl = fit_fluctuation(widths[idx], vals[idx], e)
            row.refitted, row.misfit, row.fluctuation_share = fit.slope, fl.misfit, fl.share
            tol = min(self.base_tolerance + NOISE_FACTOR * (fit.stderr or 0.0), CORRECTED_CAP * self.base_tolerance)
            if abs(fit.slope - e) <= tol and fl.misfit <= self.base_tolerance and fl.share <= MAX_SHARE:
                row.status, row.tolerance = "pass (finite-width corrected)", tol
                row.reason = "the predicted law plus its leading finite-width correction B/n fits"
                return
        else:
            idx = np.flatnonzero(keep)
        if len(idx) < MIN_CORRECTED_WIDTHS:
            row.reason = f"slope {row.fitted:+.3f} vs {row.predicted}; too few widths to fit a finite-width correction"
            return
        cf = fit_corrected_exponent(widths[idx], vals[idx], e)
        se = cf.stderr if cf.stderr is not None and np.isfinite(cf.stderr) else float("inf")
        row.corrected, row.corrected_stderr, row.crossover = cf.exponent, cf.stderr, cf.crossover
        miss = abs(cf.exponent - e)
        widest = float(widths[idx[-1]])
        nc = cf.crossover
        identified = nc is not None and nc <= widest  # the leading term is seen: the correction does not dominate everywhere
        consistent = identified and miss <= self.base_tolerance + NOISE_FACTOR * se
        if identified and miss + NOISE_FACTOR * se <= self.base_tolerance and widest >= nc / MAX_SHARE:
            row.status, row.tolerance = "pass (finite-width corrected)", self.base_tolerance
            row.reason = f"with the finite-width correction taken out the exponent is {cf.exponent:+.3f} +- {se:.3f}"
            return
        half = (len(idx) + 1) // 2
        low, high = fit_loglog(widths[idx[:half]], vals[idx[:half]]), fit_loglog(widths[idx[-half:]], vals[idx[-half:]])
        bend = abs(low.slope - e) - abs(high.slope - e)  # > 0: the curve turns towards the prediction
        row.curvature = bend
        bends = bend > self.base_tolerance + NOISE_FACTOR * float(np.hypot(low.stderr or 0.0, high.stderr or 0.0))
        add = _next_power_of_two(max(2 * widest, nc / MAX_SHARE if nc is not None else 4 * widest))
        if not bends and not consistent and cf.misfit > self.base_tolerance:
            row.status = INCONCLUSIVE
            row.reason = (f"no power law (with its correction B/n) describes widths {int(widths[idx[0]])}.."
                          f"{int(widths[idx[-1]])}: {cf.misfit:.2f} of slope left unexplained (seeds: "
                          f"{', '.join(f'{v:+.2f}' for v in cf.per_seed)}); they are pre-asymptotic or too noisy for "
                          f"d_in = {self.config.get('d_in')} / batch {batch}; add seeds or widths >= {add}")
        elif bends:
            row.status = INCONCLUSIVE
            row.reason = (f"the log-log curve bends towards {row.predicted} (slope {low.slope:+.3f} over widths "
                          f"{int(widths[idx[0]])}..{int(widths[idx[half - 1]])}, {high.slope:+.3f} over "
                          f"{int(widths[idx[-half]])}..{int(widths[idx[-1]])}): these widths are pre-asymptotic for "
                          f"d_in = {self.config.get('d_in')} / batch {batch}; add widths >= {add}")
        elif consistent:
            row.status = INCONCLUSIVE
            row.reason = (f"with the finite-width correction B/n taken out the exponent is {cf.exponent:+.3f} +- {se:.3f} "
                          f"(per seed {', '.join(f'{v:+.2f}' for v in cf.per_seed)}): it allows {row.predicted} and a "
                          f"wrong exponent; B/n is over {MAX_SHARE:g} of the leading term below n = {nc / MAX_SHARE:.0f}; "
                          f"add seeds or widths >= {add}")
        else:
            row.reason = (f"slope {row.fitted:+.3f} vs {row.predicted}; with the finite-width correction B/n taken out "
                          f"{_fmt(cf.exponent)} +- {se:.3f}" + ("" if identified else " (the correction cannot explain the "
                          "curve: it would dominate at every width)") + ", and no bend towards the prediction")

    def verdict(self, rows: list[SlopeRow] | None = None) -> tuple[str, str]:
        """Overall verdict and reason: "fail" if any tested quantity fails, else "inconclusive" if any is, else "pass"."""
        rows = self.rows() if rows is None else rows
        failed = [r for r in rows if r.verdict == "fail"]
        if failed:
            return "fail", f"{len(failed)} quantities fail, first: step {failed[0].step} {failed[0].quantity}: " + (
                failed[0].reason or f"slope {_fmt(failed[0].fitted)} vs {failed[0].predicted}")
        open_ = [r for r in rows if r.verdict == INCONCLUSIVE]
        if open_:
            return INCONCLUSIVE, (f"{len(open_)} quantities inconclusive, first: step {open_[0].step} "
                                  f"{open_[0].quantity}: {open_[0].reason}")
        return "pass", "every tested quantity matches its predicted exponent"

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: config, per-quantity verdicts, divergences and the raw sizes."""
        rows = self.rows()  # one fit per (step, quantity)
        verdict, reason = self.verdict(rows)
        return {
            "config": self.config,
            "parametrization": self.parametrization.as_dict(),
            "passed": all(r.passed for r in rows),
            "verdict": verdict,
            "reason": reason,
            "tested": sum(r.status in (*PASSING, "fail", INCONCLUSIVE) for r in rows),
            "inconclusive": sum(r.status == INCONCLUSIVE for r in rows),
            "tolerance_rule": (
                f"|fitted - predicted| <= {self.base_tolerance} + {NOISE_FACTOR} x seed standard error; a failed slope "
                f"passes if, on widths >= batch, its slope over the widest half is within min(that, "
                f"{CORRECTED_CAP * self.base_tolerance:g}) and n^(2 predicted) (C^2 + B/n) fits the mean square leaving "
                f"<= {self.base_tolerance} of slope unexplained, |B|/n <= {MAX_SHARE} C^2 at the widest width; else the "
                f"exponent s of n^(2s) (C^2 + B/n) fitted per seed fails if |s - predicted| > {self.base_tolerance} + "
                f"{NOISE_FACTOR} x SE(s), passes if |s - predicted| + {NOISE_FACTOR} SE(s) <= {self.base_tolerance} past "
                f"n = 2|B|/C^2, and is inconclusive otherwise, or where it would fail but the log-log curve bends towards the "
                f"prediction (widest-half slope nearer it than the narrowest half's by > {self.base_tolerance} + "
                f"{NOISE_FACTOR} SE)"
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


def _fmt(x: float | None) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:+.3f}"


def _next_power_of_two(x: float) -> int:
    return int(2 ** int(np.ceil(np.log2(max(x, 1.0)))))


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
        why = f": {r.reason}" if r.verdict in ("fail", INCONCLUSIVE) and r.reason else ""
        lines.append(f"{r.step:>4}  {r.quantity:<8} {fitted:>8} {pred:>9} {tol:>6}  {r.status}{why}")
    verdict, reason = cc.verdict()
    lines.append(f"verdict: {verdict} ({reason})")
    return "\n".join(lines)
