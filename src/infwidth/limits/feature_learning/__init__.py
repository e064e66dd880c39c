"""Feature-learning (muP) limits: exact 1-hidden-layer linear, 1-hidden-layer nonlinear (mean field),
and deep linear (Tensor Programs), with finite muP networks coupled to them."""

from infwidth.limits.feature_learning.linear import CoupledLinearNet, LinearMupLimit

__all__ = ["CoupledLinearNet", "LinearMupLimit"]
