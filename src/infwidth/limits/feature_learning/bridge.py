"""From a Parametrization to its feature-learning limit: the muP limit of ``p.mlp(...)`` under ``net.sgd(lr)``.

Conventions match :class:`infwidth.networks.AbcMLP`: its first layer draws ``N(0, sigma_1^2 / d_in)``
entries, so the limit's ``sigma_u = sigma_1 / sqrt(d_in)``; hidden and readout constants carry over.
Implemented: 1 hidden layer with any supported nonlinearity (:class:`MeanFieldLimit`), and deep
linear nets (:class:`DeepLinearMupLimit`). Deep nonlinear limits are not exactly computable here.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from infwidth import nonlinearities as _nl
from infwidth.errors import UserError
from infwidth.limits.feature_learning.deep_linear import DeepLinearMupLimit
from infwidth.limits.feature_learning.mean_field import MeanFieldLimit


def mup_limit(
    p: Any,
    d_in: int,
    d_out: int,
    nonlinearity: str = "relu",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> MeanFieldLimit | DeepLinearMupLimit:
    """The infinite-width limit of ``p.mlp(width, d_in, d_out, nonlinearity=...)`` trained by SGD.

    ``p`` must be muP up to the symmetry (feature learning in every layer); one-line errors otherwise.
    """
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
    nonlinearity = _nl.canonical(nonlinearity)
    sigma_u = p.sigma[0] / math.sqrt(d_in)
    if p.depth == 1:
        return MeanFieldLimit(d_in, d_out, nonlinearity, sigma_u=sigma_u, sigma_v=p.sigma[-1],
                              dtype=dtype, device=device)
    if nonlinearity != "identity":
        raise UserError(
            f"the exact muP limit of a deep {nonlinearity} net is not computable here (it needs the pi-limit); "
            "use depth 1 or nonlinearity identity"
        )
    if len(set(p.sigma[1:-1])) > 1:
        raise UserError("the deep-linear limit takes one hidden init constant; give equal sigma for layers 2..L")
    return DeepLinearMupLimit(d_in, d_out, p.depth, sigma_u=sigma_u, sigma_w=p.sigma[1],
                              sigma_v=p.sigma[-1], dtype=dtype, device=device)
