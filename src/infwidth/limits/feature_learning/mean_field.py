"""The muP limit of a 1-hidden-layer nonlinear net: the neuron-wise (mean-field) recursion of Tensor Programs IV.

``f_t(xi) = E[v_t phi(<u_t, xi>)]``, ``v_{t+1} = v_t - eta phi(<u_t, xi_t>) chi_t``,
``u_{t+1} = u_t - eta <v_t, chi_t> phi'(<u_t, xi_t>) xi_t``, expectation over
``u_0 ~ N(0, sigma_u^2 I_d)``, ``v_0 ~ N(0, sigma_v^2 I_{d_o})``. Since ``u_t - u_0`` stays in the span
of the inputs, only ``m = rank(inputs)`` directions of ``u_0`` matter (plus the ``d_o`` of ``v_0``):
tensor quadrature (trapezoid on [-8, 8] against the Gaussian density, which converges much
faster than Gauss-Hermite for steep tanh/gelu; see docs) over those ``m + d_o`` directions when the grid is small, Monte
Carlo (independent replicas, reported standard error) otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from infwidth import nonlinearities as _nl
from infwidth.errors import UserError, check_int
from infwidth.limits.sgd import (
    Loss,
    Trajectory,
    batch_indices,
    check_dims,
    check_inputs,
    check_width,
    prepare_data,
    resolve_loss,
    train_module,
)

SQRT2 = math.sqrt(2.0)



# name -> (phi, phi') for every name of the shared list (infwidth.nonlinearities), aliases included
NONLINEARITIES: dict[str, tuple[Callable, Callable]] = {
    **{name: (nl.phi, nl.dphi) for name, nl in _nl.REGISTRY.items()},
    **{alias: (nl.phi, nl.dphi) for nl in _nl.REGISTRY.values() for alias in nl.aliases},
}


def resolve_nonlinearity(phi: str | Callable, quadrature: bool) -> tuple[Callable, Callable, str]:
    """``(phi, phi', name)``; named ones only on the quadrature path, any elementwise callable for Monte Carlo."""
    if isinstance(phi, str):
        try:
            entry = _nl.get(phi)
        except UserError:
            raise UserError(f"unsupported nonlinearity {phi!r}; use one of {_nl.choices()}") from None
        return entry.phi, entry.dphi, entry.name
    if not callable(phi):
        raise UserError(f"nonlinearity must be a name or a callable, got {phi!r}")
    if quadrature:
        raise UserError(
            f"quadrature supports only named nonlinearities ({_nl.choices()}; got a callable); pass method='mc'"
        )

    def prime(x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xx = x.detach().requires_grad_()
            return torch.autograd.grad(phi(xx).sum(), xx)[0]

    return phi, prime, getattr(phi, "__name__", "callable")


def input_basis(x: torch.Tensor, rtol: float = 1e-12) -> torch.Tensor:
    """Orthonormal basis (``d x m``) of the span of the rows of ``x``."""
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    m = int((s > rtol * s.max()).sum()) if s.numel() and s.max() > 0 else 0
    return vh[: max(m, 1)].mT


@dataclass
class MeanFieldRun(Trajectory):
    """A limit trajectory plus how it was computed (method, nodes or samples, directions)."""

    method: str = "quadrature"
    nodes: int = 0
    directions: int = 0
    order: int | None = None
    f_error: float | None = None
    kernel_error: float | None = None


class MeanFieldLimit:
    """The muP limit of ``x -> (1/n) sum_a v_a phi(<u_a, x>)`` (Tensor Programs IV) and its finite samples."""

    def __init__(
        self,
        d_in: int,
        d_out: int = 1,
        nonlinearity: str | Callable = "tanh",
        sigma_u: float = 1.0,
        sigma_v: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        check_dims(d_in, d_out)
        resolve_nonlinearity(nonlinearity, quadrature=False)
        nonlinearity = _nl.canonical(nonlinearity) if isinstance(nonlinearity, str) else nonlinearity
        self.d_in, self.d_out, self.nonlinearity = d_in, d_out, nonlinearity
        self.sigma_u, self.sigma_v = float(sigma_u), float(sigma_v)
        self.dtype, self.device = dtype, device

    # -- the finite networks -------------------------------------------------------------
    def sample(self, width: int, seed: int) -> MeanFieldNet:
        """A finite width-n muP net with ``u_a, v_a`` drawn from the limit's initial law."""
        check_width(width)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        u = self.sigma_u * torch.randn(width, self.d_in, generator=gen, dtype=torch.float64)
        v = self.sigma_v * torch.randn(width, self.d_out, generator=gen, dtype=torch.float64)
        phi, _, _ = resolve_nonlinearity(self.nonlinearity, quadrature=False)
        return MeanFieldNet(u.to(self.dtype), v.to(self.dtype), phi).to(self.device)

    # -- the limit -----------------------------------------------------------------------
    def train(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float,
        steps: int,
        batch: int,
        eval_x: torch.Tensor,
        loss: str | Loss = "mse",
        method: str = "auto",
        order: int | None = None,
        samples: int = 2**16,
        replicas: int = 8,
        max_se: float | None = None,
        max_nodes: int = 2_000_000,
        seed: int = 0,
        estimate_error: bool = True,
        rule: str = "trapezoid",
    ) -> MeanFieldRun:
        """Run the limit's SGD; outputs and feature kernels on ``eval_x`` at every step.

        ``method``: "quadrature" (``order`` Gauss-Hermite points per direction), "mc"
        (``samples`` particles in ``replicas`` independent groups; ``max_se`` makes a larger
        standard error an error), "sphere" (relu/identity over <= 3 directions, by homogeneity), or
        "auto". Quadrature runs report ``f_error``/``kernel_error``: the change from order 2q/3 to q.
        ``rule``: "trapezoid" (default: q equispaced points on [-8, 8] per direction) or "hermite"
        (Gauss-Hermite; always used for the identity, where it is exact).
        """
        x, y, eval_x = prepare_data(x, y, eval_x, self.d_in, self.d_out, batch, steps, self.dtype, self.device)
        basis = input_basis(torch.cat([x, eval_x]).cpu()).to(self.dtype).to(self.device)
        m = basis.shape[1]
        dims = m + self.d_out
        q = order or default_order(dims)
        homogeneous = isinstance(self.nonlinearity, str) and _nl.get(self.nonlinearity).homogeneous and dims <= 3
        if method == "auto":
            if homogeneous:
                method = "sphere"
            else:
                method = "quadrature" if isinstance(self.nonlinearity, str) and q**dims <= max_nodes else "mc"
        if rule not in ("trapezoid", "hermite"):
            raise UserError(f"unknown quadrature rule {rule!r}; use 'trapezoid' or 'hermite'")
        self._rule = rule
        if method == "quadrature":
            if order is not None:
                check_int(order, "quadrature order")
            if q**dims > max_nodes:
                raise UserError(
                    f"quadrature over {dims} directions at order {q} needs {q**dims} nodes (> {max_nodes}); "
                    "pass method='mc' or a smaller order"
                )
            phi, prime, _ = resolve_nonlinearity(self.nonlinearity, quadrature=True)
            z, v, w = self._gauss_hermite(m, q)
        elif method == "sphere":
            if not homogeneous:
                raise UserError(
                    f"the sphere rule needs a positively homogeneous nonlinearity (relu, leaky_relu, identity) over <= 3 directions (got {self.nonlinearity!r}, "
                    f"{dims}); pass method='quadrature' or 'mc'"
                )
            phi, prime, _ = resolve_nonlinearity(self.nonlinearity, quadrature=True)
            q = order or (2**14 if dims == 2 else 256)
            z, v, w = self._sphere(m, q)
        elif method == "mc":
            phi, prime, _ = resolve_nonlinearity(self.nonlinearity, quadrature=False)
            if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 2:
                raise UserError(f"Monte Carlo needs replicas >= 2 to report a standard error, got {replicas!r}")
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2 * replicas:
                raise UserError(
                    f"Monte Carlo samples={samples!r} is too few for {replicas} replicas; pass samples >= {2 * replicas}"
                )
            z, v, w = self._monte_carlo(m, samples // replicas, replicas, seed)
        else:
            raise UserError(f"unknown method {method!r}; use 'auto', 'quadrature' or 'mc'")
        traj = _run_particles(z, v, w, phi, prime, x @ basis, y, eval_x @ basis, lr, steps, batch,
                              resolve_loss(loss))
        run = MeanFieldRun(traj.f, traj.kernel, traj.f_se, traj.kernel_se, method=method,
                           nodes=int(z.shape[0] * z.shape[1]), directions=dims,
                           order=q if method in ("quadrature", "sphere") else None)
        if method in ("quadrature", "sphere") and estimate_error:
            low = max(2, (2 * q) // 3)
            z, v, w = self._gauss_hermite(m, low) if method == "quadrature" else self._sphere(m, low)
            rough = _run_particles(z, v, w, phi, prime, x @ basis, y, eval_x @ basis, lr, steps, batch,
                                   resolve_loss(loss))
            run.f_error = float((rough.f - run.f).abs().max())
            run.kernel_error = float((rough.kernel - run.kernel).abs().max())
        if method == "mc" and max_se is not None:
            worst = float(run.f_se.max())
            if worst > max_se:
                need = int(math.ceil(samples * (worst / max_se) ** 2))
                raise UserError(
                    f"Monte-Carlo standard error {worst:.3g} exceeds the requested {max_se:.3g} with "
                    f"samples={samples}; pass samples >= {need}"
                )
        run.info = {"method": run.method, "nodes": run.nodes, "order": run.order,
                    "limit_f_error": run.f_error, "limit_kernel_error": run.kernel_error}
        return run

    def finite_trajectory(self, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                          batch: int, eval_x: torch.Tensor, loss: str | Loss = "mse") -> Trajectory:
        """The real finite net :meth:`sample` trained by the same SGD."""
        return train_module(self.sample(width, seed), x, y, lr, steps, batch, eval_x, loss)

    def _gauss_hermite(self, m: int, q: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import numpy as np

        if self.nonlinearity == "identity" or getattr(self, "_rule", "trapezoid") == "hermite":
            nodes, weights = np.polynomial.hermite_e.hermegauss(q)  # for N(0, 1), weights sum sqrt(2 pi)
        else:
            nodes = np.linspace(-8.0, 8.0, q)  # N(0,1) mass beyond 8 is ~1e-15
            weights = np.exp(-0.5 * nodes**2)
        weights = weights / weights.sum()
        dims = m + self.d_out
        grid = np.stack(np.meshgrid(*([nodes] * dims), indexing="ij"), -1).reshape(-1, dims)
        wgrid = np.prod(np.stack(np.meshgrid(*([weights] * dims), indexing="ij"), -1).reshape(-1, dims), -1)
        grid = torch.from_numpy(grid).to(self.dtype).to(self.device)
        z = self.sigma_u * grid[:, :m]
        v = self.sigma_v * grid[:, m:]
        w = torch.from_numpy(wgrid).to(self.dtype).to(self.device)
        return z[None], v[None], w[None]

    def _sphere(self, m: int, q: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For 1-homogeneous phi the map (u_0, v_0) -> (u_t, v_t) is 1-homogeneous, so every output
        and kernel entry is 2-homogeneous: E[g(G)] = E|G|^2 E_sphere[g] = E_sphere[g(sqrt(D) theta)].
        Sphere rule: trapezoid on the circle (D = 2), Gauss-Legendre x trapezoid on S^2 (D = 3)."""
        import numpy as np

        dims = m + self.d_out
        if dims == 2:
            ang = 2 * np.pi * (np.arange(q) + 0.5) / q
            pts, wts = np.stack([np.cos(ang), np.sin(ang)], -1), np.full(q, 1.0 / q)
        else:
            k = max(q // 2, 4)
            c, wc = np.polynomial.legendre.leggauss(k)
            ang = 2 * np.pi * np.arange(2 * k) / (2 * k)
            cc, aa = np.meshgrid(c, ang, indexing="ij")
            s = np.sqrt(1 - cc**2)
            pts = np.stack([s * np.cos(aa), s * np.sin(aa), cc], -1).reshape(-1, 3)
            wts = (np.repeat(wc, 2 * k) / 2 / (2 * k))
        pts = torch.from_numpy(np.sqrt(dims) * pts).to(self.dtype).to(self.device)
        w = torch.from_numpy(wts).to(self.dtype).to(self.device)
        return (self.sigma_u * pts[:, :m])[None], (self.sigma_v * pts[:, m:])[None], w[None]

    def _monte_carlo(self, m: int, per: int, replicas: int, seed: int) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        z = self.sigma_u * torch.randn(replicas, per, m, generator=gen, dtype=torch.float64)
        v = self.sigma_v * torch.randn(replicas, per, self.d_out, generator=gen, dtype=torch.float64)
        w = torch.full((replicas, per), 1.0 / per, dtype=torch.float64)
        return tuple(t.to(self.dtype).to(self.device) for t in (z, v, w))


def default_order(dims: int) -> int:
    """Points per direction so the tensor grid has at most ~2^18 nodes (at most 256 per direction)."""
    return max(4, min(256, int(round(2 ** (18 / dims)))))


def _run_particles(z, v, w, phi, prime, xr, y, er, lr, steps, batch, loss_fn) -> Trajectory:
    """Weighted particles ``(z, v)`` of shape ``(R, P, .)``; each replica evolves on its own."""
    fs, ks = [], []

    def record() -> None:
        act = phi(z @ er.mT)  # (R, P, E)
        fs.append(torch.einsum("rpe,rp,rpo->reo", act, w, v))
        ks.append(torch.einsum("rpe,rp,rpk->rek", act, w, act))

    record()
    for t in range(steps):
        idx = batch_indices(t, batch, xr.shape[0])
        xb, yb = xr[idx], y[idx]
        pre = z @ xb.mT  # (R, P, B)
        act = phi(pre)
        f = torch.einsum("rpb,rp,rpo->rbo", act, w, v).detach().requires_grad_()
        with torch.enable_grad():
            total = sum(loss_fn(f[r], yb) for r in range(f.shape[0]))
            chi = torch.autograd.grad(total, f)[0]  # (R, B, d_o)
        dv = act @ chi  # (R, P, d_o)
        dz = (torch.einsum("rpo,rbo->rpb", v, chi) * prime(pre)) @ xb  # (R, P, m)
        v = v - lr * dv
        z = z - lr * dz
        record()
    f_all, k_all = torch.stack(fs, 1), torch.stack(ks, 1)  # (R, T+1, ...)
    if f_all.shape[0] == 1:
        return Trajectory(f_all[0], k_all[0])
    r = f_all.shape[0]
    return Trajectory(f_all.mean(0), k_all.mean(0), f_all.std(0) / math.sqrt(r), k_all.std(0) / math.sqrt(r))


class MeanFieldNet(nn.Module):
    """Finite muP net ``f = n^{-1/2} W2 phi(sqrt(n) W1 x)`` with ``W1 = U / sqrt(n)``, ``W2 = V^T / sqrt(n)``.

    Plain SGD at rate eta on ``(W1, W2)`` is the neuron-wise recursion at rate eta, i.e. muP (per-layer
    rescaling of the abc-symmetry); ``features(x) @ features(x).T`` is the feature kernel
    ``(1/n) sum_a phi_a(x) phi_a(x')``.
    """

    def __init__(self, u: torch.Tensor, v: torch.Tensor, phi: Callable) -> None:
        super().__init__()
        n = u.shape[0]
        self.width, self.d_in, self.d_out, self.phi = n, u.shape[1], v.shape[1], phi
        self.W1 = nn.Parameter(u / math.sqrt(n))
        self.W2 = nn.Parameter(v.mT / math.sqrt(n))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        check_inputs(x, self.d_in, "finite net")
        return self.phi(math.sqrt(self.width) * (x @ self.W1.mT)) / math.sqrt(self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.W2.mT


__all__ = ["NONLINEARITIES", "MeanFieldLimit", "MeanFieldNet", "MeanFieldRun"]
