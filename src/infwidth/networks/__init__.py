"""Finite-width PyTorch networks in any abc-parametrization, their optimizers and the coordinate check."""

from infwidth.networks.mlp import (
    NONLINEARITIES,
    AbcMLP,
    ScaledMLP,
    TensorScale,
    abc_adam_exponents,
    readout_bias_exponents,
    resolve_nonlinearity,
)

__all__ = [
    "NONLINEARITIES",
    "AbcMLP",
    "ScaledMLP",
    "TensorScale",
    "abc_adam_exponents",
    "readout_bias_exponents",
    "resolve_nonlinearity",
]
