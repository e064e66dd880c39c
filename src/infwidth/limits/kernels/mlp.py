"""NNGP and NTK of an L-hidden-layer MLP in the neural-tangents convention (recursion written out in docs/kernels.md).

Weights ``N(0, w_std^2 / fan_in)``, biases ``N(0, b_std^2)`` per layer; layers 1..L are hidden,
layer L+1 the readout. :class:`MLPKernel` is the kernel function (a reusable description);
:func:`mlp_kernels` evaluates it once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from infwidth.device import resolve_device
from infwidth.errors import UserError
from infwidth.limits.kernels._recursion import Layer, layer_list, mlp_kernel_matrices
from infwidth.limits.kernels.nonlinearities import Nonlinearity, get_nonlinearity

Tensor = torch.Tensor
ArrayLike = Any  # torch.Tensor | np.ndarray | nested lists
Stds = float | Sequence[float]


@dataclass
class Kernels:
    """NNGP and NTK matrices ``(N1, N2)`` of the network's (scalar) output."""

    nngp: Tensor
    ntk: Tensor

    def numpy(self) -> dict[str, np.ndarray]:
        """Both kernels as float64 numpy arrays (moved to the CPU)."""
        return {"nngp": self.nngp.detach().cpu().double().numpy(), "ntk": self.ntk.detach().cpu().double().numpy()}


def _check_std(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number >= 0, got {value!r}") from None
    if not math.isfinite(out) or out < 0:
        raise UserError(f"{what} must be a finite number >= 0, got {value!r}; standard deviations cannot be negative")
    return out


def _check_stds(value: Stds, what: str, depth: int) -> Stds:
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return _check_std(value, what)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise UserError(f"{what} must be a number or one number per layer, got {value!r}")
    vals = [_check_std(v, f"{what}[{i}]") for i, v in enumerate(value)]
    if len(vals) not in (depth, depth + 1):
        raise UserError(
            f"{what} has {len(vals)} entries for depth {depth}; give one per hidden layer ({depth}) "
            f"or per layer including the readout ({depth + 1})"
        )
    return vals


def _check_depth(depth: Any) -> int:
    if isinstance(depth, bool):
        raise UserError(f"depth must be an integer >= 0 (hidden layers), got {depth!r}")
    try:
        value = int(depth)
    except (TypeError, ValueError):
        raise UserError(f"depth must be an integer >= 0 (hidden layers), got {depth!r}") from None
    if value != depth or value < 0:
        raise UserError(f"depth must be an integer >= 0 (hidden layers), got {depth!r}")
    return value


def _ntk_weights(layers: Iterable[int] | Mapping[int, float] | None, depth: int) -> dict[int, float] | None:
    """``None`` (all layers), a set of 1-based layers (weight 1), or ``{layer: weight}``."""
    if layers is None:
        return None
    items = layers.items() if isinstance(layers, Mapping) else ((layer, 1.0) for layer in layers)
    out: dict[int, float] = {}
    for layer, w in items:
        ok = not isinstance(layer, bool) and isinstance(layer, (int, np.integer)) and 1 <= int(layer) <= depth + 1
        if not ok:
            raise UserError(
                f"layers must be 1-based layer numbers in 1..{depth + 1} (readout {depth + 1}), got {layer!r}"
            )
        weight = float(w)
        if not math.isfinite(weight) or weight < 0:
            raise UserError(f"the NTK weight of layer {layer} must be finite and >= 0, got {w!r}")
        out[int(layer)] = weight
    return out


def as_inputs(x: ArrayLike, what: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A finite 2-D ``(N, d)`` tensor on ``device``; one-line error otherwise."""
    if isinstance(x, Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise UserError(f"{what} must be a numeric array of shape (N, d), got {type(x).__name__}") from None
    if t.dim() != 2:
        raise UserError(f"{what} must be 2-D (N inputs, d features), got shape {tuple(t.shape)}; reshape it to (N, d)")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise UserError(f"{what} is empty (shape {tuple(t.shape)}); give at least one input with d >= 1 features")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8)):
        raise UserError(f"{what} must hold real numbers, got dtype {t.dtype}")
    t = t.to(device=device, dtype=dtype)
    if not bool(torch.isfinite(t).all()):
        raise UserError(f"{what} contains NaN or infinite values; clean or drop those inputs")
    return t


class MLPKernel:
    """The infinite-width kernel function of an MLP: ``kernel(x1, x2) -> Kernels``.

    ``layers`` keeps only those layers' NTK terms (partial NTK); a mapping gives each kept layer a
    weight (the function-space kernel of a parametrization whose layers learn at different rates).
    """

    def __init__(
        self,
        *,
        depth: int,
        nonlinearity: str | Callable[[Tensor], Tensor] | Nonlinearity = "relu",
        w_std: Stds = 1.0,
        b_std: Stds = 0.0,
        out_w_std: float | None = None,
        out_b_std: float | None = None,
        layers: Iterable[int] | Mapping[int, float] | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device | None = None,
        tile: int | None = None,
        quadrature_points: int = 100,
    ) -> None:
        self.depth = _check_depth(depth)
        self.phi = get_nonlinearity(nonlinearity, points=quadrature_points)
        w = _check_stds(w_std, "w_std", self.depth)
        b = _check_stds(b_std, "b_std", self.depth)
        ow = None if out_w_std is None else _check_std(out_w_std, "out_w_std")
        ob = None if out_b_std is None else _check_std(out_b_std, "out_b_std")
        if dtype not in (torch.float32, torch.float64):
            raise UserError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if tile is not None and (isinstance(tile, bool) or int(tile) != tile or tile < 1):
            raise UserError(f"tile must be a positive integer (rows per block), got {tile!r}")
        self.layers: list[Layer] = layer_list(self.depth, w, b, ow, ob, _ntk_weights(layers, self.depth))
        self.dtype = dtype
        self.device = resolve_device(device, dtype)
        self.tile = None if tile is None else int(tile)

    @classmethod
    def from_layers(
        cls,
        depth: int,
        nonlinearity: str | Callable[[Tensor], Tensor] | Nonlinearity,
        layers: Sequence[Layer],
        **kwargs: Any,
    ) -> MLPKernel:
        """A kernel from explicit :class:`Layer` entries (stds and NTK weights per layer, readout last)."""
        if len(layers) != depth + 1:
            raise UserError(f"need {depth + 1} layers (hidden and readout) for depth {depth}, got {len(layers)}")
        out = cls(depth=depth, nonlinearity=nonlinearity, **kwargs)
        out.layers = list(layers)
        return out

    def __call__(self, x1: ArrayLike, x2: ArrayLike | None = None, *, ntk: bool = True,
                 progress: bool = False) -> Kernels:
        a = as_inputs(x1, "x1", self.dtype, self.device)
        b = None if x2 is None else as_inputs(x2, "x2", self.dtype, self.device)
        if b is not None and b.shape[1] != a.shape[1]:
            raise UserError(
                f"x1 has {a.shape[1]} features but x2 has {b.shape[1]}; both must have the same input dimension"
            )
        try:
            with torch.no_grad():
                nngp, theta = mlp_kernel_matrices(a, b, self.layers, self.phi, self.tile, want_ntk=ntk,
                                                  progress=progress)
        except OverflowError:
            raise UserError(
                f"the kernels overflowed (non-finite values) for nonlinearity {self.phi.name}; "
                "use smaller w_std/b_std, fewer layers, or float64"
            ) from None
        return Kernels(nngp, theta if theta is not None else torch.zeros_like(nngp))

    def nngp(self, x1: ArrayLike, x2: ArrayLike | None = None) -> Tensor:
        """Only the NNGP (skips the NTK's work)."""
        return self(x1, x2, ntk=False).nngp

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (for run records)."""
        return {
            "depth": self.depth,
            "nonlinearity": self.phi.name,
            "w_std": [lay.w_std for lay in self.layers],
            "b_std": [lay.b_std for lay in self.layers],
            "ntk_weights": [lay.ntk_weight for lay in self.layers],
            "bias_ntk_weights": [lay.bias_weight for lay in self.layers],
            "dtype": str(self.dtype),
        }


def mlp_kernels(
    x1: ArrayLike,
    x2: ArrayLike | None = None,
    *,
    depth: int,
    nonlinearity: str | Callable[[Tensor], Tensor] | Nonlinearity = "relu",
    w_std: Stds = 1.0,
    b_std: Stds = 0.0,
    out_w_std: float | None = None,
    out_b_std: float | None = None,
    layers: Iterable[int] | Mapping[int, float] | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    tile: int | None = None,
    quadrature_points: int = 100,
    progress: bool = False,
) -> Kernels:
    """NNGP and NTK ``(N1, N2)`` of an MLP with ``depth`` hidden layers between ``x1`` and ``x2`` (default x1).

    ``w_std``/``b_std`` are scalars or per-layer lists; the readout uses ``out_w_std``/``out_b_std``
    (default: the hidden values). ``b_std = 0`` means no bias. ``layers`` keeps only the NTK terms of
    those 1-based layers (readout = depth + 1).
    """
    kernel = MLPKernel(
        depth=depth, nonlinearity=nonlinearity, w_std=w_std, b_std=b_std, out_w_std=out_w_std,
        out_b_std=out_b_std, layers=layers, dtype=dtype, device=device, tile=tile,
        quadrature_points=quadrature_points,
    )
    return kernel(x1, x2, progress=progress)
