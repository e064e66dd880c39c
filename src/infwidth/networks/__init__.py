"""Finite-width PyTorch networks in any abc-parametrization and their optimizers.

``AbcMLP`` is the abc form (the paper's section 3, ``h^l = n^{-a_l} W^l x^{l-1}``), ``PracticalMLP``
the mup / Tensor Programs V form of the same network (identical outputs at every step). The
coordinate check that measures their scaling exponents is :mod:`infwidth.coordcheck`.
"""

from infwidth.networks.mlp import (
    NONLINEARITIES,
    AbcMLP,
    ScaledMLP,
    TensorScale,
    abc_adam_exponents,
    activation_names,
    readout_bias_exponents,
    resolve_nonlinearity,
)
from infwidth.networks.practical import PracticalMLP, practical_shifts, to_abc, to_practical

__all__ = [
    "NONLINEARITIES",
    "AbcMLP",
    "PracticalMLP",
    "ScaledMLP",
    "TensorScale",
    "abc_adam_exponents",
    "activation_names",
    "practical_shifts",
    "readout_bias_exponents",
    "resolve_nonlinearity",
    "to_abc",
    "to_practical",
]
