"""The exact muP limit of a deep linear MLP by the Tensor-Program rules (Tensor Programs IV; written out in docs/feature_learning.md).

Every vector of the width-n program has iid-like coordinates ``Z``; for a linear net each ``Z`` is a
*linear combination* of finitely many jointly Gaussian basis variables: the ``d`` input-weight
columns, the ``d_o`` readout columns, and one ``Zhat`` per vector ever multiplied by an initial
hidden matrix ``W^l_0`` or its transpose. We store each vector as its coefficient row over that basis
and the basis covariance ``Sigma``, so ``<a|b> = c_a Sigma c_b^T`` exactly. ``Zdot`` is read off the
coefficients (the derivative of a linear function). The basis grows by ``2 (L - 1) B`` per step, so
``T`` steps cost ``O(T * L * B * N^2)`` with ``N ~ 2 (L - 1) B T``: ``O(L^3 B^3 T^3)`` time, ``O(N^2)`` memory.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from infwidth.errors import UserError, check_depth
from infwidth.limits.sgd import (
    Loss,
    Trajectory,
    batch_indices,
    check_dims,
    check_inputs,
    check_width,
    prepare_data,
    resolve_loss,
)


def _check_depth(depth: int) -> int:
    if not isinstance(depth, int) or isinstance(depth, bool):  # no silent int(2.5) here: a limit takes an int
        raise UserError(f"depth (number of hidden layers) must be an integer >= 1, got {depth!r}")
    return check_depth(depth)


class _Basis:
    """Jointly Gaussian basis variables: a covariance matrix that only grows (capacity doubling)."""

    def __init__(self, dtype: torch.dtype, device: torch.device | None) -> None:
        self.sigma = torch.zeros(64, 64, dtype=dtype, device=device)
        self.size = 0

    def add(self, cov_new: torch.Tensor, cov_old: torch.Tensor) -> torch.Tensor:
        """Append ``k`` variables with covariance ``cov_new`` (k x k) and ``cov_old`` (k x size) to the rest."""
        k, start = cov_new.shape[0], self.size
        if start + k > self.sigma.shape[0]:
            cap = max(2 * self.sigma.shape[0], start + k)
            grown = self.sigma.new_zeros(cap, cap)
            grown[:start, :start] = self.sigma[:start, :start]
            self.sigma = grown
        self.sigma[start : start + k, start : start + k] = cov_new
        self.sigma[start : start + k, :start] = cov_old
        self.sigma[:start, start : start + k] = cov_old.mT
        self.size = start + k
        return torch.arange(start, start + k, device=self.sigma.device)

    def inner(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``<a|b> = E[Z^a Z^b]`` for coefficient rows ``a`` (p x N'), ``b`` (q x N'')."""
        n = self.size
        return _pad(a, n) @ self.sigma[:n, :n] @ _pad(b, n).mT


def _pad(rows: torch.Tensor, n: int) -> torch.Tensor:
    return rows if rows.shape[-1] == n else torch.nn.functional.pad(rows, (0, n - rows.shape[-1]))


def _cat(rows: list[torch.Tensor], n: int) -> torch.Tensor:
    return torch.cat([_pad(r, n) for r in rows])


class _HiddenMatrix:
    """One initial hidden matrix ``W_0`` (entries N(0, sigma^2/n)) with its two Zhat families and its SGD updates."""

    def __init__(self, sigma_w: float) -> None:
        self.var = sigma_w**2
        self.fwd_in: list[torch.Tensor] = []  # rows x that went through W_0
        self.fwd_idx: list[torch.Tensor] = []  # basis index of Zhat^{W_0 x}
        self.bwd_in: list[torch.Tensor] = []  # rows y that went through W_0^T
        self.bwd_idx: list[torch.Tensor] = []
        self.upd_dh: list[torch.Tensor] = []  # W_t = W_0 - (eta/n) sum dh x^T (eta folded in)
        self.upd_x: list[torch.Tensor] = []

    def state(self) -> tuple[int, int, int]:
        return len(self.fwd_in), len(self.bwd_in), len(self.upd_dh)

    def restore(self, state: tuple[int, int, int]) -> None:
        a, b, c = state
        del self.fwd_in[a:], self.fwd_idx[a:], self.bwd_in[b:], self.bwd_idx[b:]
        del self.upd_dh[c:], self.upd_x[c:]

    def _apply0(self, basis: _Basis, rows: torch.Tensor, forward: bool) -> torch.Tensor:
        own_in, own_idx = (self.fwd_in, self.fwd_idx) if forward else (self.bwd_in, self.bwd_idx)
        other_in, other_idx = (self.bwd_in, self.bwd_idx) if forward else (self.fwd_in, self.fwd_idx)
        rows = _pad(rows, basis.size)
        # Zdot: sum over y that went through the transpose, Z^y * E[dZ^x / dZhat^{W^T y}] (a coefficient)
        zdot = rows.new_zeros(rows.shape[0], basis.size)
        if other_in:
            idx = torch.cat(other_idx)
            ins = _cat(other_in, basis.size)
            zdot = self.var * rows[:, idx] @ ins
        # Zhat: new Gaussians, covariance var * <x|x'> within this family, independent of the rest
        cov_new = self.var * basis.inner(rows, rows)
        cov_old = rows.new_zeros(rows.shape[0], basis.size)
        if own_in:
            idx = torch.cat(own_idx)
            ins = _cat(own_in, basis.size)
            cov_old[:, idx] = self.var * basis.inner(rows, ins)
        new = basis.add(cov_new, cov_old)
        own_in.append(rows)
        own_idx.append(new)
        out = _pad(zdot, basis.size)
        out[torch.arange(rows.shape[0], device=out.device), new] += 1.0
        return out

    def forward(self, basis: _Basis, x: torch.Tensor) -> torch.Tensor:
        """Rows of ``W_t x``: ``W_0 x - eta sum_s dh_s <x_s|x>``."""
        out = self._apply0(basis, x, forward=True)
        if self.upd_dh:
            dh, xs = _cat(self.upd_dh, basis.size), _cat(self.upd_x, basis.size)
            out = out - basis.inner(x, xs) @ _pad(dh, basis.size)
        return out

    def backward(self, basis: _Basis, dh: torch.Tensor) -> torch.Tensor:
        """Rows of ``W_t^T dh``: ``W_0^T dh - eta sum_s x_s <dh_s|dh>``."""
        out = self._apply0(basis, dh, forward=False)
        if self.upd_dh:
            dhs, xs = _cat(self.upd_dh, basis.size), _cat(self.upd_x, basis.size)
            out = out - basis.inner(dh, dhs) @ _pad(xs, basis.size)
        return out


class DeepLinearMupLimit:
    """The muP limit of ``f = W^{L+1} ... W^1 x`` (L hidden layers, SGD at rate eta), computed exactly."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        depth: int,
        sigma_u: float = 1.0,
        sigma_w: float = 1.0,
        sigma_v: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        check_dims(d_in, d_out)
        self.d_in, self.d_out, self.depth = d_in, d_out, _check_depth(depth)
        self.sigma_u, self.sigma_w, self.sigma_v = float(sigma_u), float(sigma_w), float(sigma_v)
        self.dtype, self.device = dtype, device

    def sample(self, width: int, seed: int) -> DeepLinearMupNet:
        """A finite width-n muP deep linear net (dense weights) with the limit's initial law."""
        return DeepLinearMupNet(self, check_width(width), seed)

    def simulate(self, width: int, seed: int, *args, **kwargs) -> Trajectory:
        """A finite width-n trajectory without ``n x n`` storage: :func:`simulate_finite`."""
        return simulate_finite(self, width, seed, *args, **kwargs)

    def finite_trajectory(self, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                          batch: int, eval_x: torch.Tensor, loss: str | Loss = "mse") -> Trajectory:
        """The finite net's trajectory by lazily sampled Gaussian hidden matrices (:meth:`simulate`)."""
        return simulate_finite(self, width, seed, x, y, lr, steps, batch, eval_x, loss)

    def train(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float,
        steps: int,
        batch: int,
        eval_x: torch.Tensor,
        loss: str | Loss = "mse",
    ) -> Trajectory:
        """Run the limit's SGD; outputs and last-layer feature kernels on ``eval_x`` at steps 0..T."""
        x, y, eval_x = prepare_data(x, y, eval_x, self.d_in, self.d_out, batch, steps, self.dtype, self.device)
        loss_fn = resolve_loss(loss)
        d, do = self.d_in, self.d_out
        basis = _Basis(self.dtype, self.device)
        eye = torch.eye(d + do, dtype=self.dtype, device=self.device)
        var0 = torch.tensor([self.sigma_u**2] * d + [self.sigma_v**2] * do, dtype=torch.float64)
        basis.add(torch.diag(var0).to(self.dtype).to(self.device), eye.new_zeros(d + do, 0))
        w_in, w_out = eye[:d].clone(), eye[d:].clone()  # |w^1_t> (d rows), |w^{L+1}_t> (d_o rows)
        mats = [_HiddenMatrix(self.sigma_w) for _ in range(self.depth - 1)]

        def forward(xb: torch.Tensor) -> list[torch.Tensor]:
            hs = [xb @ _pad(w_in, basis.size)]
            for mat in mats:
                hs.append(mat.forward(basis, hs[-1]))
            return hs

        fs, ks = [], []

        def record() -> None:
            saved = (basis.size, [m.state() for m in mats])
            h = forward(eval_x)[-1]
            fs.append(basis.inner(h, w_out))
            ks.append(basis.inner(h, h))
            basis.size = saved[0]
            for m, s in zip(mats, saved[1], strict=True):
                m.restore(s)

        record()
        for t in range(steps):
            idx = batch_indices(t, batch, x.shape[0])
            xb, yb = x[idx], y[idx]
            hs = forward(xb)
            f = basis.inner(hs[-1], w_out).detach().requires_grad_()
            with torch.enable_grad():
                chi = torch.autograd.grad(loss_fn(f, yb), f)[0]  # (B, d_o)
            dh = chi @ _pad(w_out, basis.size)  # |dx^L_i> = |w^{L+1}> chi_i
            grads = [dh]
            for mat in reversed(mats):
                grads.append(mat.backward(basis, grads[-1]))
            grads.reverse()  # grads[l-1] = dh^l, l = 1..L
            for mat, dh_l, x_prev in zip(mats, grads[1:], hs[:-1], strict=True):
                mat.upd_dh.append(lr * dh_l)
                mat.upd_x.append(x_prev)
            w_in = _pad(w_in, basis.size) - lr * xb.mT @ _pad(grads[0], basis.size)
            w_out = _pad(w_out, basis.size) - lr * chi.mT @ _pad(hs[-1], basis.size)
            record()
        self.basis_size = basis.size
        return Trajectory(torch.stack(fs), torch.stack(ks), info={
            "method": "TP bookkeeping (exact)", "basis_size": basis.size,
            "finite": "lazily sampled Gaussian hidden matrices (exact in law)"})


class _Dense:
    """A dense matrix behind the lazy-matrix interface (to check the simulator against a real net)."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w

    def matmul(self, vs: torch.Tensor) -> torch.Tensor:
        return self.w @ vs

    def rmatmul(self, zs: torch.Tensor) -> torch.Tensor:
        return self.w.mT @ zs


def simulate_finite(
    limit: DeepLinearMupLimit,
    width: int,
    seed: int,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    batch: int,
    eval_x: torch.Tensor,
    loss: str | Loss = "mse",
    dense: DeepLinearMupNet | None = None,
) -> Trajectory:
    """The width-n muP deep linear net's SGD trajectory without ``n x n`` storage (exact in law).

    Hidden matrices are :class:`LazyGaussianMatrix` (or the weights of ``dense``, to check this code
    against a real network); ``W_t = W_0 - (eta/n) sum dh x^T`` is kept as its low-rank factors.
    Cost ``O(n k^2)`` for ``k ~ (B + E) T`` revealed directions per matrix.
    """
    from infwidth.limits.feature_learning._lazy_gaussian import LazyGaussianMatrix

    check_width(width)
    dt, dev, n = limit.dtype, limit.device, width
    x, y, eval_x = prepare_data(x, y, eval_x, limit.d_in, limit.d_out, batch, steps, dt, dev, "finite net")
    loss_fn = resolve_loss(loss)
    if dense is not None:
        w1 = math.sqrt(n) * dense.first.detach().clone()
        w_out = math.sqrt(n) * dense.last.detach().mT.clone()
        mats = [_Dense(p.detach()) for p in dense.hidden]
    else:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        w1 = (limit.sigma_u * torch.randn(n, limit.d_in, generator=gen, dtype=torch.float64)).to(dt).to(dev)
        w_out = (limit.sigma_v * torch.randn(n, limit.d_out, generator=gen, dtype=torch.float64)).to(dt).to(dev)
        mats = [LazyGaussianMatrix(n, limit.sigma_w / math.sqrt(n), gen, dt, dev) for _ in range(limit.depth - 1)]
    hist_dh: list[list[torch.Tensor]] = [[] for _ in mats]  # (eta/n) dh columns
    hist_x: list[list[torch.Tensor]] = [[] for _ in mats]

    def forward(xb: torch.Tensor) -> list[torch.Tensor]:
        hs = [w1 @ xb.mT]  # (n, B): muP h^1 = W^1 xi with N(0, sigma_u^2) entries
        for mat, dhs, xs in zip(mats, hist_dh, hist_x, strict=True):
            h = mat.matmul(hs[-1])
            if dhs:
                h = h - torch.cat(dhs, 1) @ (torch.cat(xs, 1).mT @ hs[-1])
            hs.append(h)
        return hs

    fs, ks = [], []

    def record() -> None:
        h = forward(eval_x)[-1]
        fs.append((w_out.mT @ h / n).mT)
        ks.append(h.mT @ h / n)

    record()
    for t in range(steps):
        idx = batch_indices(t, batch, x.shape[0])
        xb, yb = x[idx], y[idx]
        hs = forward(xb)
        f = (w_out.mT @ hs[-1] / n).mT.detach().requires_grad_()
        with torch.enable_grad():
            chi = torch.autograd.grad(loss_fn(f, yb), f)[0]  # (B, d_o)
        grads = [w_out @ chi.mT]  # n * dLoss/dx^L, (n, B)
        for mat, dhs, xs in zip(reversed(mats), reversed(hist_dh), reversed(hist_x), strict=True):
            g = mat.rmatmul(grads[-1])
            if dhs:
                g = g - torch.cat(xs, 1) @ (torch.cat(dhs, 1).mT @ grads[-1])
            grads.append(g)
        grads.reverse()
        for dhs, xs, dh_l, x_prev in zip(hist_dh, hist_x, grads[1:], hs[:-1], strict=True):
            dhs.append(lr / n * dh_l)
            xs.append(x_prev)
        w1 = w1 - lr * grads[0] @ xb
        w_out = w_out - lr * hs[-1] @ chi
        record()
    return Trajectory(torch.stack(fs), torch.stack(ks))


class DeepLinearMupNet(nn.Module):
    """Finite muP deep linear net; plain SGD at rate eta on its parameters is muP SGD.

    ``h^1 = sqrt(n) P_1 x``, ``h^{l+1} = P_{l+1} h^l``, ``f = P_{L+1} h^L / sqrt(n)`` with all ``P``
    entries ``O(n^{-1/2})``: the abc-symmetry form of muP (``W^1 = sqrt(n) P_1`` at lr eta n,
    ``W^{L+1} = P_{L+1} / sqrt(n)`` at lr eta / n).
    """

    def __init__(self, limit: DeepLinearMupLimit, width: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        n, dt = width, limit.dtype
        self.width, self.d_in, self.d_out = n, limit.d_in, limit.d_out

        def draw(shape: tuple[int, int], std: float) -> nn.Parameter:
            w = std * torch.randn(*shape, generator=gen, dtype=torch.float64) / math.sqrt(n)
            return nn.Parameter(w.to(dt).to(limit.device))

        self.first = draw((n, limit.d_in), limit.sigma_u)
        self.hidden = nn.ParameterList([draw((n, n), limit.sigma_w) for _ in range(limit.depth - 1)])
        self.last = draw((limit.d_out, n), limit.sigma_v)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x^L / sqrt(n)``: ``features @ features.T`` is the feature kernel ``<x^L|x^L'>``."""
        check_inputs(x, self.d_in, "finite net")
        h = math.sqrt(self.width) * (x @ self.first.mT)
        for w in self.hidden:
            h = h @ w.mT
        return h / math.sqrt(self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.last.mT


__all__ = ["DeepLinearMupLimit", "DeepLinearMupNet", "simulate_finite"]
