"""Feature-learning (muP) limits: exact 1-hidden-layer linear, 1-hidden-layer nonlinear (mean field),
and deep linear (Tensor Programs), with finite muP networks coupled to them."""

from infwidth.limits.feature_learning.contrast import ContrastResult, plot_contrast, run_contrast
from infwidth.limits.feature_learning.convergence import (
    MODELS,
    ConvergenceConfig,
    ConvergenceResult,
    plot_convergence,
    run_convergence,
)
from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit, DeepLinearMupNet
from infwidth.limits.feature_learning.linear import CoupledLinearNet, LinearMupLimit
from infwidth.limits.feature_learning.mean_field import MeanFieldLimit, MeanFieldNet, MeanFieldRun

__all__ = [
    "MODELS",
    "ContrastResult",
    "ConvergenceConfig",
    "ConvergenceResult",
    "plot_contrast",
    "plot_convergence",
    "run_contrast",
    "run_convergence",
    "CoupledLinearNet",
    "DeepLinearMupLimit",
    "DeepLinearMupNet",
    "LinearMupLimit",
    "MeanFieldLimit",
    "MeanFieldNet",
    "MeanFieldRun",
]
