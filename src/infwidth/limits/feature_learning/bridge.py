"""From a Parametrization to its feature-learning limit: the muP limit of ``p.mlp(...)`` under ``net.sgd(lr)``.

Conventions match :class:`infwidth.networks.AbcMLP`: its first layer draws ``N(0, sigma_1^2 / d_in)``
entries, so the limit's ``sigma_u = sigma_1 / sqrt(d_in)``; hidden and readout constants carry over.
Fast paths: 1 hidden layer with any supported nonlinearity (:class:`MeanFieldLimit`) and deep
linear nets (:class:`DeepLinearMupLimit`); every other depth and nonlinearity (and any net with
biases, or ``engine="tensor_program"``) goes through the Tensor-Program engine
(:class:`~infwidth.limits.feature_learning.tp_mlp.TensorProgramMupLimit`), which the fast paths cross-check.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from infwidth import nonlinearities as _nl
from infwidth.errors import UserError
from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit
from infwidth.limits.feature_learning.mean_field import MeanFieldLimit
from infwidth.limits.feature_learning.tp_mlp import TensorProgramMupLimit


def mup_limit(
    p: Any,
    d_in: int,
    d_out: int,
    nonlinearity: str = "relu",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    engine: str = "auto",
    **options: Any,
) -> MeanFieldLimit | DeepLinearMupLimit | TensorProgramMupLimit:
    """The infinite-width limit of ``p.mlp(width, d_in, d_out, nonlinearity=...)`` trained by SGD.

    ``p`` must be muP up to the symmetry (feature learning in every layer); one-line errors otherwise.
    ``engine``: "auto" (a fast path when one applies), "tensor_program" (always the engine);
    ``options`` (bias, bias_std, method, particles, replicas, target_se, seed) go to the engine.
    """
    if engine not in ("auto", "tensor_program"):
        raise UserError(f"unknown engine {engine!r}; use 'auto' or 'tensor_program'")
    from infwidth.parametrizations.abc import mup

    c = p.classify()
    if c.regime != "feature-learning":
        raise UserError(
            f"{p.name or 'this parametrization'} is in the {c.regime} regime, so it has no feature-learning "
            "limit; use p.kernel_limit(...) for kernel-regime ones, or a muP parametrization"
        )
    reference = mup(p.depth).with_sigma(p.sigma)
    if not p.equivalent(reference):
        raise UserError(
            "only the muP limit (every layer updated maximally, up to the symmetry) is implemented; "
            f"use infwidth.mup({p.depth}) or a parametrization equivalent to it"
        )
    if not isinstance(nonlinearity, str):
        raise UserError(f"the feature-learning limit needs a named nonlinearity ({_nl.choices()})")
    name = _nl.canonical(nonlinearity)
    fast_ok = engine == "auto" and not options.get("bias", False)
    sigma_u = p.sigma[0] / math.sqrt(d_in)
    if fast_ok and p.depth == 1:
        return MeanFieldLimit(d_in, d_out, name, sigma_u=sigma_u, sigma_v=p.sigma[-1],
                              dtype=dtype, device=device)
    if fast_ok and p.depth > 1 and name == "identity" and len(set(p.sigma[1:-1])) == 1:
        return DeepLinearMupLimit(d_in, d_out, p.depth, sigma_u=sigma_u, sigma_w=p.sigma[1],
                                  sigma_v=p.sigma[-1], dtype=dtype, device=device)
    return TensorProgramMupLimit(p, d_in, d_out, name, dtype=dtype, device=device, **options)
