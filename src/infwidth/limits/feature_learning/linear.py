"""The exact muP limit of a 1-hidden-layer linear network, and finite muP networks coupled to it.

The limit of a width-n muP linear net ``d -> n -> d_o`` is an ordinary linear net of width
``k = d + d_o``: ``f = C (A x + alpha b)`` with ``A_0 = [sigma_u I_d ; 0]``, ``C_0 = [0, sigma_v I_{d_o}]``,
trained by the same SGD (Tensor Programs IV; docs/feature_learning.md, section 1). A finite net coupled to it is
``W1 = n^{-1/2} Omega A``, ``W2 = n^{-1/2} C Omega^T``, ``b1 = n^{-1/2} Omega b`` with ``Omega``
iid N(0, 1) of shape ``n x k``; plain SGD keeps it of this form with ``f = C G A x``,
``G = Omega^T Omega / n``. Writing ``G = R^T R`` (``R`` is ``k x k``), the finite net is *exactly* the
width-k net started at ``(R A_0, C_0 R^T, R b_0)``: :meth:`LinearMupLimit.simulate` returns it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from infwidth.errors import UserError, require
from infwidth.limits.interface import Trajectory
from infwidth.limits.sgd import (
    check_dims,
    check_inputs,
    check_width,
    train_module,
)


def omega(width: int, k: int, seed: int, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    """The coupling matrix ``Omega`` (``width x k``, iid N(0,1)), drawn on the CPU for reproducibility."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(width, k, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)


def psd_sqrt(g: torch.Tensor) -> torch.Tensor:
    """A square root ``R`` with ``R^T R = G`` for a symmetric PSD ``G`` (Cholesky, else eigen)."""
    r, info = torch.linalg.cholesky_ex(g)
    if int(info) == 0:
        return r.mT  # G = L L^T = R^T R with R = L^T
    vals, vecs = torch.linalg.eigh(g)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.mT


def wishart_root(width: int, k: int, seed: int, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    """``R`` with ``R^T R ~ Wishart(I_k, width) / width``, by Bartlett's decomposition in O(k^2)."""
    require(width >= k, f"Wishart sampling needs width >= d_in + d_out = {k} (got {width}); use method='omega'")
    import numpy as np

    rng = np.random.default_rng(int(seed))
    low = np.tril(rng.standard_normal((k, k)), k=-1)
    low[np.diag_indices(k)] = np.sqrt(rng.chisquare(width - np.arange(k)))  # chi^2_{width - i}
    low = torch.from_numpy(low)
    return (low.mT / width**0.5).to(dtype=dtype, device=device)


class LinearMupLimit(nn.Module):
    """The width-(d + d_o) coefficient network that *is* the muP limit; train it by plain SGD.

    ``forward(x) = C (A x + alpha b)``; parameters ``A`` (``k x d``), ``C`` (``d_o x k``) and, when
    ``alpha`` is given, the hidden bias ``b`` (``k``, init 0). The same lr as the finite nets.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        sigma_u: float = 1.0,
        sigma_v: float = 1.0,
        alpha: float | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        check_dims(d_in, d_out)
        self.d_in, self.d_out, self.k = d_in, d_out, d_in + d_out
        self.sigma_u, self.sigma_v = float(sigma_u), float(sigma_v)
        self.alpha = None if alpha is None else float(alpha)
        a0 = torch.zeros(self.k, d_in, dtype=dtype, device=device)
        a0[:d_in] = self.sigma_u * torch.eye(d_in, dtype=dtype, device=device)
        c0 = torch.zeros(d_out, self.k, dtype=dtype, device=device)
        c0[:, d_in:] = self.sigma_v * torch.eye(d_out, dtype=dtype, device=device)
        self.A = nn.Parameter(a0)
        self.C = nn.Parameter(c0)
        self.b = None if alpha is None else nn.Parameter(torch.zeros(self.k, dtype=dtype, device=device))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden coefficients ``A x + alpha b``: the limit feature kernel is ``features @ features.T``."""
        check_inputs(x, self.d_in, "muP limit")
        h = x @ self.A.mT
        if self.b is not None:
            h = h + self.alpha * self.b
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.C.mT

    def sample(self, width: int, seed: int) -> CoupledLinearNet:
        """The finite width-``width`` muP net coupled to this limit's *current* coefficients."""
        check_width(width)
        om = omega(width, self.k, seed, self.A.dtype, self.A.device)
        return CoupledLinearNet(self, om)

    def train(self, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, batch: int, eval_x: torch.Tensor,
              loss: Any = "mse") -> Trajectory:
        """The limit's SGD (on a copy: this limit keeps its initial coefficients); see :class:`Limit`."""
        traj = train_module(copy.deepcopy(self), x, y, lr, steps, batch, eval_x, loss)
        traj.info = {"method": "exact (width d+d_o)", "finite": "exact G-simulator (equal to the real net)"}
        return traj

    def finite_trajectory(self, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                          batch: int, eval_x: torch.Tensor, loss: Any = "mse") -> Trajectory:
        """The finite net's SGD trajectory, by the exact width-k simulator :meth:`simulate` (omega)."""
        return train_module(self.simulate(width, seed), x, y, lr, steps, batch, eval_x, loss)

    def simulate(self, width: int, seed: int, method: str = "omega") -> LinearMupLimit:
        """Exact width-k stand-in for the finite width-``width`` net (same forward, same SGD).

        ``method="omega"`` uses the very ``Omega`` of :meth:`sample` (equal to float64 precision);
        ``"wishart"`` samples ``G`` directly (same law, O(k^2) for any width >= k).
        """
        check_width(width)
        if method == "omega":
            om = omega(width, self.k, seed, torch.float64, self.A.device)
            r = psd_sqrt(om.mT @ om / width).to(self.A.dtype)
        elif method == "wishart":
            r = wishart_root(width, self.k, seed, self.A.dtype, self.A.device)
        else:
            raise UserError(f"unknown simulate method {method!r}; use 'omega' or 'wishart'")
        twin = LinearMupLimit(self.d_in, self.d_out, self.sigma_u, self.sigma_v, self.alpha,
                              self.A.dtype, self.A.device)
        with torch.no_grad():
            twin.A.copy_(r @ self.A)
            twin.C.copy_(self.C @ r.mT)
            if self.b is not None:
                twin.b.copy_(r @ self.b)
        return twin


class CoupledLinearNet(nn.Module):
    """A finite width-n muP linear net ``W2 (W1 x + alpha b1)`` coupled to a :class:`LinearMupLimit`.

    This is muP up to the per-layer rescaling ``W1 -> sqrt(n) W1``, ``W2 -> W2 / sqrt(n)`` (lr x n and
    lr / n), which changes no output at any step: see docs/feature_learning.md.
    """

    def __init__(self, limit: LinearMupLimit, om: torch.Tensor) -> None:
        super().__init__()
        n = om.shape[0]
        self.width, self.d_in, self.d_out, self.alpha = n, limit.d_in, limit.d_out, limit.alpha
        s = om / n**0.5
        with torch.no_grad():
            self.W1 = nn.Parameter(s @ limit.A.detach())
            self.W2 = nn.Parameter(limit.C.detach() @ s.mT)
            self.b1 = None if limit.b is None else nn.Parameter(s @ limit.b.detach())

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden activations (``n`` of them); ``features @ features.T`` is the muP feature kernel."""
        check_inputs(x, self.d_in, "finite net")
        h = x @ self.W1.mT
        if self.b1 is not None:
            h = h + self.alpha * self.b1
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.W2.mT


__all__ = ["CoupledLinearNet", "LinearMupLimit", "check_width"]
