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


def fit_loglog(widths: Sequence[float], values: Sequence[float] | np.ndarray) -> LogLogFit:
    """Least-squares slope of ``log values`` vs ``log widths``.

    ``values`` is one value per width, or a ``(widths, seeds)`` array: then the slope of the
    mean-over-seeds ``log values`` and its seed standard error (``std`` of per-seed slopes over
    ``sqrt(seeds)``; None for one seed). Needs two widths and positive values.
    """
    logn = np.log(np.asarray(widths, dtype=float))
    logs = np.log(np.asarray(values, dtype=float))
    if logs.ndim == 1:
        logs = logs[:, None]
    if logs.shape[0] != logn.shape[0] or logn.shape[0] < 2:
        raise ValueError(f"need >= 2 widths and one value row per width, got {logn.shape[0]} widths, {logs.shape[0]} rows")
    slope, intercept = np.polyfit(logn, logs.mean(axis=1), 1)
    stderr = None
    if logs.shape[1] >= 2:
        per_seed = [np.polyfit(logn, logs[:, s], 1)[0] for s in range(logs.shape[1])]
        stderr = float(np.std(per_seed, ddof=1) / math.sqrt(len(per_seed)))
    return LogLogFit(float(slope), float(intercept), stderr)
