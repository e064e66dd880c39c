"""Tensor Programs: write a computation as a program of MatMul / Nonlin / Moment instructions, then run
it at any finite width or take its infinite-width limit by the Master Theorem (Tensor Programs IV).

The engine knows nothing about networks; :mod:`infwidth.tensor_programs.mlp` writes an MLP's SGD
training as a program and is one client.
"""

from infwidth.tensor_programs.finite import FiniteRun, run_finite
from infwidth.tensor_programs.limit import (
    LimitResult,
    choose_method,
    estimate_memory,
    gaussian_dims,
    solve_limit,
)
from infwidth.tensor_programs.program import (
    InitVectors,
    MatMul,
    Matrix,
    Moment,
    Nonlin,
    Program,
    Var,
)

__all__ = [
    "FiniteRun",
    "InitVectors",
    "LimitResult",
    "MatMul",
    "Matrix",
    "Moment",
    "Nonlin",
    "Program",
    "Var",
    "choose_method",
    "estimate_memory",
    "gaussian_dims",
    "run_finite",
    "solve_limit",
]
