"""Finite-width PyTorch networks in any abc-parametrization, their optimizers and the coordinate check.

``AbcMLP`` is the abc form (SPEC section 1), ``PracticalMLP`` the mup / Tensor Programs V form of the
same network (identical outputs at every step), ``run_coordcheck`` measures scaling exponents.
"""

from infwidth.networks.coordcheck import (
    CoordCheck,
    plot_coordcheck,
    predicted_sizes,
    run_coordcheck,
)
from infwidth.networks.mlp import (
    NONLINEARITIES,
    AbcMLP,
    ScaledMLP,
    TensorScale,
    abc_adam_exponents,
    readout_bias_exponents,
    resolve_nonlinearity,
)
from infwidth.networks.practical import PracticalMLP, practical_shifts, to_abc, to_practical

__all__ = [
    "NONLINEARITIES",
    "AbcMLP",
    "CoordCheck",
    "PracticalMLP",
    "ScaledMLP",
    "TensorScale",
    "abc_adam_exponents",
    "plot_coordcheck",
    "practical_shifts",
    "predicted_sizes",
    "readout_bias_exponents",
    "resolve_nonlinearity",
    "run_coordcheck",
    "to_abc",
    "to_practical",
]
