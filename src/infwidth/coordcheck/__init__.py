"""The coordinate check: does every activation's coordinate size scale with width as predicted?

predict (exponents from the classification, for the nonlinearity run) -> measure (forward hooks on
any ``nn.Module``; an exact low-rank fast path for SGD on infwidth's MLPs) -> fit (the shared
log-log fitter) -> report (verdicts, JSON) -> plot. :func:`run_point` is one width x seed from a
picklable :class:`CoordCheckConfig`; :func:`run_coordcheck` / :func:`run_config` loop over it.
"""

from infwidth.coordcheck.config import CoordCheckConfig
from infwidth.coordcheck.measure import Divergence, measure, record_outputs
from infwidth.coordcheck.plot import draw_sizes, plot_coordcheck
from infwidth.coordcheck.predict import predicted_sizes, prediction_note, quantity_names
from infwidth.coordcheck.report import (
    BASE_TOLERANCE,
    INCONCLUSIVE,
    NOISE_FACTOR,
    CoordCheck,
    SlopeRow,
    format_table,
)
from infwidth.coordcheck.run import assemble, run_config, run_coordcheck, run_point

__all__ = [
    "BASE_TOLERANCE",
    "INCONCLUSIVE",
    "NOISE_FACTOR",
    "CoordCheck",
    "CoordCheckConfig",
    "Divergence",
    "SlopeRow",
    "assemble",
    "draw_sizes",
    "format_table",
    "measure",
    "plot_coordcheck",
    "predicted_sizes",
    "prediction_note",
    "quantity_names",
    "record_outputs",
    "run_config",
    "run_coordcheck",
    "run_point",
]
