"""Kernel-regime limits: NNGP and NTK of deep MLPs, and exact infinite-width kernel training.

``mlp_kernels(x1, x2, depth=..., nonlinearity=...)`` gives both kernels in the neural-tangents
convention; :class:`MLPKernel` is the reusable kernel function. :class:`KernelSGD` trains the
infinite-width network in function space; :func:`mse_closed_form` solves full-batch MSE exactly;
:func:`regime_kernel` gives the kernel a kernel-regime Parametrization follows;
:class:`KernelRegimeLimit` is that limit behind the common :class:`~infwidth.limits.interface.Limit` interface.
"""

from infwidth.limits.kernels.limit import KernelRegimeLimit
from infwidth.limits.kernels.mlp import Kernels, MLPKernel, mlp_kernels
from infwidth.limits.kernels.montecarlo import monte_carlo_kernels, relative_frobenius
from infwidth.limits.kernels.nonlinearities import NAMES, Nonlinearity, Quadrature, get_nonlinearity
from infwidth.limits.kernels.regime import RegimeKernel, regime_kernel, regime_kernel_fn
from infwidth.limits.kernels.training import KernelSGD, loss_gradient, mse_closed_form

__all__ = [
    "NAMES",
    "KernelRegimeLimit",
    "KernelSGD",
    "Kernels",
    "MLPKernel",
    "Nonlinearity",
    "Quadrature",
    "RegimeKernel",
    "get_nonlinearity",
    "loss_gradient",
    "mlp_kernels",
    "monte_carlo_kernels",
    "mse_closed_form",
    "regime_kernel",
    "regime_kernel_fn",
    "relative_frobenius",
]
