"""Kernel-regime limits: NNGP and NTK of deep MLPs, and exact infinite-width kernel training.

``mlp_kernels(x1, x2, depth=..., nonlinearity=...)`` gives both kernels in the neural-tangents
convention; :class:`MLPKernel` is the reusable kernel function.
"""

from infwidth.limits.kernels.mlp import Kernels, MLPKernel, mlp_kernels
from infwidth.limits.kernels.nonlinearities import NAMES, Nonlinearity, Quadrature, get_nonlinearity

__all__ = ["NAMES", "Kernels", "MLPKernel", "Nonlinearity", "Quadrature", "get_nonlinearity", "mlp_kernels"]
