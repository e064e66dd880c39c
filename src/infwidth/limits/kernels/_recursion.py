"""The NNGP / NTK depth recursion of an MLP, tiled over rows so that N = 20,000 inputs fit in memory.

One Gram matmul per tile, then elementwise work on (rows, N2) blocks: only the tile's K and Theta
live at once besides the outputs. Diagonals K^l(x, x) are propagated separately as vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from infwidth.limits.kernels.nonlinearities import Nonlinearity

Tensor = torch.Tensor


@dataclass(frozen=True)
class Layer:
    """Layer ``l`` (1-based): weight std, bias std (NT convention) and the weights of its weight and
    bias terms in the NTK sum (``bias_weight`` None: same as ``ntk_weight``)."""

    w_std: float
    b_std: float
    ntk_weight: float = 1.0
    bias_weight: float | None = None

    def add_term(self, theta: Tensor, k: Tensor) -> None:
        """``theta += ntk_weight * (k - b^2) + bias_weight * b^2`` (this layer's NTK term, weighted)."""
        if self.ntk_weight:
            theta.add_(k, alpha=self.ntk_weight)
        extra = (self.ntk_weight if self.bias_weight is None else self.bias_weight) - self.ntk_weight
        if extra and self.b_std:
            theta.add_(extra * self.b_std**2)


def diag_chain(x: Tensor, layers: Sequence[Layer], phi: Nonlinearity) -> list[Tensor]:
    """``[K^1(x,x), ..., K^L(x,x)]``: pre-activation variances of the hidden layers (not the readout)."""
    d = x.shape[1]
    first = layers[0]
    k = (x * x).sum(dim=1) * (first.w_std**2 / d) + first.b_std**2
    out = [k]
    for layer in layers[1:-1]:
        e, _ = phi.diag(k)
        k = e * layer.w_std**2 + layer.b_std**2
        out.append(k)
    return out


def kernel_block(
    x1: Tensor, x2: Tensor, d1: list[Tensor], d2: list[Tensor], layers: Sequence[Layer], phi: Nonlinearity,
    want_ntk: bool = True, square: int = 0,
) -> tuple[Tensor, Tensor | None]:
    """NNGP and NTK of the readout for a block of rows ``x1`` against all of ``x2``.

    ``layers`` holds L+1 entries (hidden layers 1..L, then the readout); ``d1``/``d2`` are the
    diagonal chains of ``x1``/``x2``. ``square > 0``: the first ``square`` columns are the same
    inputs as the rows, whose diagonal is pinned to the chain (exactly K(x, x) at every layer).
    """
    first = layers[0]
    k = x1 @ x2.T
    k.mul_(first.w_std**2 / x1.shape[1])
    if first.b_std:
        k.add_(first.b_std**2)
    theta = None
    if want_ntk:
        theta = torch.zeros_like(k)
        first.add_term(theta, k)
    for l_idx, layer in enumerate(layers[1:]):
        if square:
            k[:, :square].diagonal().copy_(d1[l_idx])
        w2, b2 = layer.w_std**2, layer.b_std**2
        k, kdot = phi.pair(k, d1[l_idx][:, None], d2[l_idx][None, :], scale=w2)  # w2 E[phi phi], w2 E[phi' phi']
        if b2:
            k.add_(b2)
        if theta is not None:
            theta.mul_(kdot)
            layer.add_term(theta, k)
    return k, theta


def mlp_kernel_matrices(
    x1: Tensor,
    x2: Tensor | None,
    layers: Sequence[Layer],
    phi: Nonlinearity,
    tile: int | None = None,
    want_ntk: bool = True,
    progress: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """The (N1, N2) NNGP and NTK, filling outputs tile by tile; ``x2 is None`` uses symmetry."""
    symmetric = x2 is None
    x2_ = x1 if symmetric else x2
    n1, n2 = x1.shape[0], x2_.shape[0]
    if tile is None:
        tile = max(1, min(n1, (1 << 19) // max(n2, 1)))  # ~0.5M entries per block: stays in cache
    d1 = diag_chain(x1, layers, phi)
    d2 = d1 if symmetric else diag_chain(x2_, layers, phi)
    nngp = torch.empty((n1, n2), dtype=x1.dtype, device=x1.device)
    ntk = torch.empty_like(nngp) if want_ntk else None
    finite = torch.ones((), dtype=torch.bool, device=x1.device)
    starts = range(0, n1, tile)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="kernel tiles", unit="tile", leave=False)
    for r0 in starts:
        r1 = min(r0 + tile, n1)
        c0 = r0 if symmetric else 0  # symmetric: only columns >= r0, mirrored below
        k, th = kernel_block(
            x1[r0:r1], x2_[c0:], [d[r0:r1] for d in d1], [d[c0:] for d in d2], layers, phi, want_ntk,
            square=(r1 - r0) if symmetric else 0,
        )
        _store(nngp, k, r0, r1, c0, symmetric)
        finite &= torch.isfinite(k.sum(dtype=torch.float64))  # on the block while it is in cache
        if ntk is not None and th is not None:
            _store(ntk, th, r0, r1, c0, symmetric)
            finite &= torch.isfinite(th.sum(dtype=torch.float64))
    if not bool(finite):
        raise OverflowError("non-finite kernel values")
    return nngp, ntk


def _store(out: Tensor, block: Tensor, r0: int, r1: int, c0: int, symmetric: bool) -> None:
    if not symmetric:
        out[r0:r1] = block
        return
    h = r1 - r0
    square = block[:, :h]
    square = (square + square.T) * 0.5  # exact symmetry of the diagonal block
    out[r0:r1, r0:r1] = square
    if block.shape[1] > h:
        out[r0:r1, r1:] = block[:, h:]
        out[r1:, r0:r1] = block[:, h:].T.contiguous()  # transpose in cache, then row-wise copies


def layer_list(
    depth: int,
    w_std: float | Sequence[float],
    b_std: float | Sequence[float],
    out_w_std: float | None,
    out_b_std: float | None,
    ntk_weights: Mapping[int, float] | None,
) -> list[Layer]:
    """L+1 :class:`Layer` entries from scalar-or-sequence stds (validated by the caller)."""
    ws = _per_layer(w_std, depth, out_w_std)
    bs = _per_layer(b_std, depth, out_b_std)
    weights = {layer: 1.0 for layer in range(1, depth + 2)} if ntk_weights is None else dict(ntk_weights)
    return [Layer(ws[i], bs[i], float(weights.get(i + 1, 0.0))) for i in range(depth + 1)]


def _per_layer(value: float | Sequence[float], depth: int, out: float | None) -> list[float]:
    if isinstance(value, (int, float)):
        hidden = [float(value)] * depth
        last = float(value)
    else:
        vals = [float(v) for v in value]
        if len(vals) == depth + 1:
            hidden, last = vals[:-1], vals[-1]
        else:
            hidden, last = vals, (vals[-1] if vals else 1.0)
    if out is not None:
        last = float(out)
    return hidden + [last]
