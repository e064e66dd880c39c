"""Feature-learning (muP) limits: exact 1-hidden-layer linear, 1-hidden-layer nonlinear (mean field),
and deep linear (Tensor Programs), with finite muP networks coupled to them.

Each limit implements :class:`infwidth.limits.interface.Limit`; the finite-vs-limit studies that
use them live in :mod:`infwidth.studies`."""

from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit, DeepLinearMupNet
from infwidth.limits.feature_learning.linear import CoupledLinearNet, LinearMupLimit
from infwidth.limits.feature_learning.mean_field import MeanFieldLimit, MeanFieldNet, MeanFieldRun

__all__ = [
    "CoupledLinearNet",
    "DeepLinearMupLimit",
    "DeepLinearMupNet",
    "LinearMupLimit",
    "MeanFieldLimit",
    "MeanFieldNet",
    "MeanFieldRun",
]
