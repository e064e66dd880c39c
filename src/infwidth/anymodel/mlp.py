"""The project's MLP as a plain ``nn.Sequential``, parametrized through the any-model machinery.

With the same parametrization, width, seed and dtype it computes exactly the numbers of
:class:`infwidth.networks.PracticalMLP` (same Gaussians in the same order, same scales, same rates):
the any-model path and the dedicated MLP are one rule.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from infwidth.anymodel.apply import apply
from infwidth.anymodel.roles import Roles, find_roles
from infwidth.errors import check_int
from infwidth.networks.mlp import resolve_nonlinearity


class Activation(nn.Module):
    """``phi`` of :mod:`infwidth.nonlinearities` as a module (by name)."""

    def __init__(self, name: str = "relu") -> None:
        super().__init__()
        self.name = name
        self.phi = resolve_nonlinearity(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.phi(x)

    def extra_repr(self) -> str:
        return self.name


def mlp_module(
    width: int, d_in: int, d_out: int, depth: int, *, bias: bool = False, nonlinearity: str = "relu", device: Any = None
) -> nn.Sequential:
    """``Linear(d_in, n), phi, (Linear(n, n), phi) x (L-1), Linear(n, d_out)``: plain PyTorch."""
    for value, what in ((width, "width"), (d_in, "d_in"), (d_out, "d_out"), (depth, "depth")):
        check_int(value, what)
    dims = [d_in] + [width] * depth + [d_out]
    layers: list[nn.Module] = []
    with torch.device(device if device is not None else "cpu"):
        for k in range(depth + 1):
            layers.append(nn.Linear(dims[k], dims[k + 1], bias=bias))
            if k < depth:
                layers.append(Activation(nonlinearity))
    return nn.Sequential(*layers)


def mlp_roles(model: nn.Sequential, d_in: int, d_out: int, depth: int, bias: bool = False) -> Roles:
    """Roles of :func:`mlp_module` from shape-only instances at two other widths."""
    w = d_in + d_out + 1
    base = mlp_module(w, d_in, d_out, depth, bias=bias, device="meta")
    delta = mlp_module(2 * w, d_in, d_out, depth, bias=bias, device="meta")
    return find_roles(model, base, delta)


def build_mlp(
    parametrization: Any,
    width: int,
    d_in: int,
    d_out: int,
    *,
    depth: int | None = None,
    bias: bool = False,
    bias_std: float = 1.0,
    nonlinearity: str = "relu",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: Any = None,
) -> nn.Sequential:
    """The MLP in ``parametrization`` (preset name with ``depth``, or a Parametrization) via :func:`apply`."""
    from infwidth.parametrizations.abc import Parametrization

    if depth is None:
        depth = parametrization.depth if isinstance(parametrization, Parametrization) else 1
    model = mlp_module(width, d_in, d_out, depth, bias=bias, nonlinearity=nonlinearity, device=device).to(dtype)
    roles = mlp_roles(model, d_in, d_out, depth, bias)
    apply(model, roles, parametrization, seed=seed, bias_std=bias_std)
    return model
