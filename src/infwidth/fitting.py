"""The one slope fitter: least squares of ``log y`` against ``log n`` (a power law ``y ~ C n^slope``).

Every study that reads an exponent off widths (coordinate check, finite-vs-limit convergence,
kernel Monte-Carlo checks) uses :func:`fit_loglog`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogLogFit:
    """``log y = intercept + slope log n``; ``stderr`` is the seed standard error of the slope (or None)."""

    slope: float
    intercept: float
    stderr: float | None = None
    correction: float | None = None  # fitted A of the finite-width term A n^{-k} (log scale), if fitted


def fit_loglog(
    widths: Sequence[float], values: Sequence[float] | np.ndarray, correction: float | None = None
) -> LogLogFit:
    """Least-squares slope of ``log values`` vs ``log widths``.

    ``values`` is one value per width, or a ``(widths, seeds)`` array: then the slope of the
    mean-over-seeds ``log values`` and its seed standard error (``std`` of per-seed slopes over
    ``sqrt(seeds)``; None for one seed). Needs two widths and positive values.
    ``correction=k`` also fits a leading finite-width correction, ``log y = log C + slope log n +
    A n^{-k}`` (``y = C n^slope (1 + A n^{-k} + ...)``; ``k = 1/2`` is the Tensor Programs
    fluctuation order); linear in ``(log C, slope, A)``, so a pure power law still gives its exact
    slope. Needs four widths.
    """
    logn = np.log(np.asarray(widths, dtype=float))
    logs = np.log(np.asarray(values, dtype=float))
    if logs.ndim == 1:
        logs = logs[:, None]
    need = 2 if correction is None else 4
    if logs.shape[0] != logn.shape[0] or logn.shape[0] < need:
        raise ValueError(f"need >= {need} widths and one value row per width, got {logn.shape[0]} widths, {logs.shape[0]} rows")
    cols = [np.ones_like(logn), logn]
    if correction is not None:
        cols.append(np.exp(-correction * logn))
    design = np.stack(cols, axis=1)
    coef = np.linalg.lstsq(design, logs, rcond=None)[0]  # one column per seed; linear, so the mean's fit is the mean
    intercept, slope = float(coef[0].mean()), float(coef[1].mean())
    stderr = None
    if logs.shape[1] >= 2:
        stderr = float(np.std(coef[1], ddof=1) / math.sqrt(logs.shape[1]))
    return LogLogFit(slope, intercept, stderr, None if correction is None else float(coef[2].mean()))



@dataclass(frozen=True)
class FluctuationFit:
    """How well ``y_n^2 = n^{2e} (C^2 + B / n)`` (``e`` given) describes the data.

    ``misfit`` is the RMS log-residual divided by the spread (std) of ``log n``: the slope error
    the model leaves unexplained. ``share`` is the correction's part ``|B| / (C^2 n)`` of ``y^2``
    at the widest width (near 0: that width is asymptotic; >= 1, or ``C^2 <= 0``: it is not).
    """

    misfit: float
    share: float
    c2: float
    b: float


def fit_fluctuation(widths: Sequence[float], values: Sequence[float] | np.ndarray, exponent: float) -> FluctuationFit:
    """Fit the limit plus independent fluctuations to a root-mean-square ``y`` at each width.

    A coordinate whose limit has size ``C n^e`` plus fluctuations of relative size ``n^{-1/2}``
    (``B > 0``) or a relative ``O(1/n)`` bias of either sign (the leading finite-width corrections)
    has mean square ``n^{2e} (C^2 + B/n)``; the correction dominates where ``|B| / n > C^2``.
    ``values``: one per width or ``(widths, seeds)`` (geometric mean over seeds). Least squares on
    the relative residuals of ``y^2``.
    """
    n = np.asarray(widths, dtype=float)
    logs = np.log(np.asarray(values, dtype=float))
    logy = logs.mean(axis=1) if logs.ndim == 2 else logs
    target = np.exp(2 * logy - 2 * exponent * np.log(n))  # y^2 n^{-2e} = C^2 + B/n
    design = np.stack([np.ones_like(n), 1.0 / n], axis=1) / target[:, None]
    c2, b = np.linalg.lstsq(design, np.ones_like(n), rcond=None)[0]
    model = design @ np.array([c2, b])
    if c2 <= 0 or np.any(model <= 0):
        return FluctuationFit(float("inf"), float("inf"), float(c2), float(b))
    resid = 0.5 * np.log(model)  # residual of log y
    spread = float(np.std(np.log(n)))
    misfit = float(np.sqrt(np.mean(resid**2)) / spread) if spread > 0 else float("inf")
    return FluctuationFit(misfit, float(abs(b) / (c2 * n[-1])), float(c2), float(b))


@dataclass(frozen=True)
class CorrectedExponentFit:
    """The exponent ``s`` of ``y_n^2 = n^{2s} (C^2 + B / n)`` fitted freely, with its seed standard error.

    ``crossover`` is ``|B| / C^2``: the width where the finite-width correction equals the leading
    term (None when the fit has no positive limit ``C^2``). ``per_seed`` holds each seed's ``s``.
    """

    exponent: float
    stderr: float | None
    c2: float
    b: float
    crossover: float | None
    per_seed: tuple[float, ...]
    misfit: float = float("inf")  # RMS log-residual of y over the spread of log n: slope the fit leaves unexplained


def _best_exponent(n: np.ndarray, logy: np.ndarray, grid: np.ndarray) -> tuple[float, float, float, float]:
    """Grid search of ``s`` (relative least squares on ``y^2``, linear in ``(C^2, B)`` for each ``s``).

    Returns ``(s, C^2, B, mean squared log-residual of y^2)``.
    """
    best = (float("inf"), float("nan"), float("nan"), float("nan"))
    logn = np.log(n)
    for s in grid:
        target = np.exp(2 * logy - 2 * s * logn)
        design = np.stack([np.ones_like(n), 1.0 / n], axis=1) / target[:, None]
        coef, *_ = np.linalg.lstsq(design, np.ones_like(n), rcond=None)
        model = design @ coef
        if coef[0] <= 0 or np.any(model <= 0) or abs(coef[1]) > coef[0] * n[-1]:
            continue  # no positive limit, or a correction larger than the leading term at every width
        err = float(np.mean(np.log(model) ** 2))
        if err < best[0]:
            best = (err, float(s), float(coef[0]), float(coef[1]))
    return best[1], best[2], best[3], best[0]


def fit_corrected_exponent(
    widths: Sequence[float], values: Sequence[float] | np.ndarray, around: float, span: float = 1.5, step: float = 0.005
) -> CorrectedExponentFit:
    """Fit the exponent of a power law with its leading finite-width correction, ``n^{2s} (C^2 + B/n)``.

    Unlike :func:`fit_fluctuation` the exponent is free (searched in ``around +- span``), so the fit
    says what exponent the data extrapolate to once the ``B/n`` term has died out; the spread of
    the per-seed exponents (``values`` of shape ``(widths, seeds)``) says whether the data can tell.
    Only fits whose correction is at most the leading term at the widest width count (else a
    pure ``n^{e - 1/2}`` law would pass as "all correction"): where none does, ``exponent`` is NaN.
    Needs three widths (three unknowns).
    """
    n = np.asarray(widths, dtype=float)
    logs = np.log(np.asarray(values, dtype=float))
    if logs.ndim == 1:
        logs = logs[:, None]
    if n.shape[0] < 3 or logs.shape[0] != n.shape[0]:
        raise ValueError(f"need >= 3 widths and one value row per width, got {n.shape[0]} widths, {logs.shape[0]} rows")
    grid = np.arange(around - span, around + span + step / 2, step)
    s, c2, b, err = _best_exponent(n, logs.mean(axis=1), grid)
    spread = float(np.std(np.log(n)))
    misfit = float(0.5 * np.sqrt(err) / spread) if np.isfinite(err) and spread > 0 else float("inf")
    per_seed = tuple(_best_exponent(n, logs[:, k], grid)[0] for k in range(logs.shape[1])) if logs.shape[1] >= 2 else ()
    finite = [v for v in per_seed if np.isfinite(v)]
    stderr = None
    if len(per_seed) >= 2:
        stderr = float(np.std(finite, ddof=1) / math.sqrt(len(finite))) if len(finite) == len(per_seed) else float("inf")
    crossover = float(abs(b) / c2) if np.isfinite(c2) and c2 > 0 else None
    return CorrectedExponentFit(s, stderr, c2, b, crossover, per_seed, misfit)
