"""Nonlinearities as small pieces: the finite ``phi`` and ``phi'``, and their infinite-width moments.

Each piece gives, for ``(u, v) ~ N(0, [[k11, k12], [k12, k22]])``, the two expectations the NNGP / NTK
recursion needs, ``E[phi(u) phi(v)]`` and ``E[phi'(u) phi'(v)]``, elementwise over broadcastable
tensors (``k11`` a column, ``k22`` a row, ``k12`` the matrix). Closed forms where they exist (relu,
leaky_relu, erf, gelu, sin, identity); any other function by 2-D Gaussian quadrature (trapezoid rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from infwidth import nonlinearities as _nl
from infwidth.errors import UserError

Tensor = torch.Tensor
NAMES = _nl.ALL_NAMES  # every name of the shared list is accepted
_TWO_PI = 2.0 * math.pi
_SQRT_2PI = math.sqrt(_TWO_PI)
_HALF_RANGE = 9.0  # quadrature range in standard deviations; the Gaussian tail beyond is < 1e-18


class Nonlinearity:
    """Base piece. Subclasses give ``phi``, ``dphi`` and the moments ``pair`` / ``diag``."""

    name: str = "?"

    def phi(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def dphi(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """``scale * (E[phi(u) phi(v)], E[phi'(u) phi'(v)])``; ``k11`` (n1, 1) and ``k22`` (1, n2) broadcast.

        ``scale`` (the next layer's ``w_std^2``) is folded into each piece's constants: one pass less.
        """
        raise NotImplementedError

    def diag(self, k: Tensor) -> tuple[Tensor, Tensor]:
        """``(E[phi(u)^2], E[phi'(u)^2])`` for ``u ~ N(0, k)``, elementwise over a vector ``k``."""
        return self.pair(k, k, k)

    def __repr__(self) -> str:
        return f"<nonlinearity {self.name}>"


class Identity(Nonlinearity):
    name = "identity"

    def phi(self, x: Tensor) -> Tensor:
        return x

    def dphi(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        return k12 * scale, torch.ones_like(k12).mul_(scale)


@dataclass(frozen=True)
class LeakyRelu(Nonlinearity):
    """``max(x, alpha x)`` written as ``alpha x + (1 - alpha) relu(x)``; ``alpha = 0`` is relu."""

    alpha: float = 0.0

    @property
    def name(self) -> str:  # type: ignore[override]
        return "relu" if self.alpha == 0 else f"leaky_relu:{self.alpha:g}"

    def phi(self, x: Tensor) -> Tensor:
        return torch.where(x > 0, x, self.alpha * x)

    def dphi(self, x: Tensor) -> Tensor:
        one = torch.ones((), dtype=x.dtype, device=x.device)
        return torch.where(x > 0, one, self.alpha * one)

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        # relu arc-cosine kernel: E = (sqrt(k11 k22 - k12^2) + (pi - theta) k12) / 2pi,
        # E' = (pi - theta) / 2pi, theta the angle; pi - theta = atan2(sqrt(k11 k22 - k12^2), -k12)
        # is exact at theta = 0 (where arccos loses half the digits) and needs no division.
        gap = (k11 * k22).sub_(k12 * k12).clamp_(min=0.0).sqrt_()
        t = torch.atan2(gap, -k12)
        a = self.alpha
        c = scale * (1.0 - a) ** 2 / _TWO_PI
        nngp = gap.addcmul_(t, k12).mul_(c)
        ntk = t.mul_(c)
        if a != 0:  # leaky: a k12 + (1-a)^2 J_relu, a + (1-a)^2 (pi - theta)/2pi
            nngp.add_(k12, alpha=scale * a)
            ntk.add_(scale * a)
        return nngp, ntk

    def diag(self, k: Tensor) -> tuple[Tensor, Tensor]:
        a = self.alpha
        return k * ((1.0 + a * a) / 2.0), torch.full_like(k, (1.0 + a * a) / 2.0)


class Erf(Nonlinearity):
    name = "erf"

    def phi(self, x: Tensor) -> Tensor:
        return torch.erf(x)

    def dphi(self, x: Tensor) -> Tensor:
        return (2.0 / math.sqrt(math.pi)) * torch.exp(-x * x)

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        # E = (2/pi) arcsin(2 k12 / sqrt((1+2k11)(1+2k22))), E' = (4/pi) / sqrt((1+2k11)(1+2k22) - 4 k12^2)
        prod = (1.0 + 2.0 * k11) * (1.0 + 2.0 * k22)
        nngp = (2.0 * k12).mul_(torch.rsqrt(prod)).clamp_(-1.0, 1.0).asin_().mul_(scale * 2.0 / math.pi)
        det = prod.sub_(4.0 * k12 * k12).clamp_(min=torch.finfo(k12.dtype).tiny)
        ntk = det.rsqrt_().mul_(scale * 4.0 / math.pi)
        return nngp, ntk


class Gelu(Nonlinearity):
    """``x Phi(x)`` (exact, not the tanh approximation). Closed forms derived in docs/kernels.md."""

    name = "gelu"

    def phi(self, x: Tensor) -> Tensor:
        return torch.nn.functional.gelu(x)

    def dphi(self, x: Tensor) -> Tensor:
        return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))) + x * torch.exp(-0.5 * x * x) / _SQRT_2PI

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        # With a = k11, b = k22, c = k12, P = (1+a)(1+b), D = P - c^2, s = arcsin(c / sqrt P):
        # E  = c/4 + c s / 2pi + (a b + c^2 (1/(1+a) + 1/(1+b) - 1)) / (2 pi sqrt D)
        # E' = 1/4 + s / 2pi + c (P (a+b+3) - c^2 (a+b+2)) / (2 pi P D^{3/2})   (= dE/dc, Price)
        a1, b1 = 1.0 + k11, 1.0 + k22
        prod = a1 * b1
        c2 = k12 * k12
        s = (k12 * torch.rsqrt(prod)).clamp_(-1.0, 1.0).asin_()
        det = (prod - c2).clamp_(min=torch.finfo(k12.dtype).tiny)
        rdet = det.rsqrt()
        ab = k11 * k22
        nngp = k12 * (0.25 + s / _TWO_PI) + (ab + c2 * (1.0 / a1 + 1.0 / b1 - 1.0)) * rdet / _TWO_PI
        apb = k11 + k22
        ntk = 0.25 + s / _TWO_PI + k12 * (prod * (apb + 3.0) - c2 * (apb + 2.0)) * rdet / (det * prod * _TWO_PI)
        return (nngp.mul_(scale), ntk.mul_(scale)) if scale != 1.0 else (nngp, ntk)


class Sin(Nonlinearity):
    name = "sin"

    def phi(self, x: Tensor) -> Tensor:
        return torch.sin(x)

    def dphi(self, x: Tensor) -> Tensor:
        return torch.cos(x)

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        # E[sin u sin v] = e^{-(k11+k22)/2} sinh k12, E[cos u cos v] = e^{-(k11+k22)/2} cosh k12,
        # written with non-positive exponents (|k12| <= (k11+k22)/2) so nothing overflows.
        m = (k11 + k22) * -0.5
        ep, em = torch.exp(m + k12), torch.exp(m - k12)
        return (ep - em).mul_(0.5 * scale), (ep + em).mul_(0.5 * scale)


class Quadrature(Nonlinearity):
    """Any elementwise ``phi`` by 2-D quadrature (Gaussian-weighted trapezoid rule), ``points`` per axis.

    ``phi'`` comes from ``dphi`` if given, else autograd. Accuracy is measured in the tests (tanh:
    see docs/kernels.md); the diagonal moments are checked against a rule twice as fine, which
    catches functions that are not square-integrable under a Gaussian.
    """

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        name: str | None = None,
        dphi: Callable[[Tensor], Tensor] | None = None,
        points: int = 100,
        chunk: int = 1 << 21,
    ) -> None:
        if points < 2:
            raise UserError(f"quadrature needs at least 2 points, got {points}; use e.g. 100")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self._dphi = dphi
        self.points = int(points)
        self.chunk = int(chunk)

    # finite pieces -----------------------------------------------------------------------------
    def phi(self, x: Tensor) -> Tensor:
        return self._call(x)

    def dphi(self, x: Tensor) -> Tensor:
        if self._dphi is not None:
            return self._dphi(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            y = self._call(xg)
            if not y.requires_grad:  # constant function
                return torch.zeros_like(x)
            (g,) = torch.autograd.grad(y.sum(), xg, allow_unused=True)
        return torch.zeros_like(x) if g is None else g.detach()

    def _call(self, x: Tensor) -> Tensor:
        try:
            y = self.fn(x)
        except Exception as exc:  # a user callable that cannot take a torch tensor
            raise UserError(
                f"nonlinearity {self.name!r} failed on a torch tensor ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); pass an elementwise torch function"
            ) from None
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            raise UserError(
                f"nonlinearity {self.name!r} must map a tensor to a tensor of the same shape; "
                "pass an elementwise torch function such as torch.tanh"
            )
        return y

    # moments ---------------------------------------------------------------------------------
    def _nodes(self, like: Tensor, points: int | None = None) -> tuple[Tensor, Tensor]:
        # Trapezoid rule on [-9, 9] with the Gaussian weight, midpoints (no node at 0, where kinks
        # and poles sit). For functions analytic in a strip (tanh, sigmoid) it converges like
        # exp(-2 pi a / h), much faster than Gauss-Hermite; for entire functions faster still.
        m = points or self.points
        h = 2.0 * _HALF_RANGE / m
        z = -_HALF_RANGE + h * (np.arange(m) + 0.5)
        w = np.exp(-0.5 * z * z)
        w = w / w.sum()
        return (torch.as_tensor(z, dtype=like.dtype, device=like.device),
                torch.as_tensor(w, dtype=like.dtype, device=like.device))

    def _diag_moments(self, k: Tensor, points: int) -> tuple[Tensor, Tensor]:
        z, w = self._nodes(k, points)
        u = k.clamp(min=0).sqrt().unsqueeze(-1) * z
        return (self.phi(u) ** 2) @ w, (self.dphi(u) ** 2) @ w

    def diag(self, k: Tensor) -> tuple[Tensor, Tensor]:
        e, ed = self._diag_moments(k, self.points)
        e2, ed2 = self._diag_moments(k, 2 * self.points)  # converged quadrature agrees with itself
        for a, b, what in ((e, e2, "phi"), (ed, ed2, "phi'")):
            bad = ~torch.isfinite(a) | ~torch.isfinite(b) | ((a - b).abs() > 1e-2 * (1.0 + b.abs()))
            if bool(bad.any()):
                kk = k[bad.nonzero()[0]].reshape(()) if k.dim() else k
                self._diverging_moment(kk, what)
        return e, ed  # the same rule as pair(), so diagonal and off-diagonal entries agree

    def _diverging_moment(self, k: Tensor, what: str) -> None:
        """Raise the right one-line error for a moment that the ``self.points`` rule gets wrong at variance ``k``:
        a finer order that converges (the order is too coarse), or none (not square-integrable)."""
        fn = 0 if what == "phi" else 1
        for factor in (2, 4, 8, 16, 32):
            m = factor * self.points
            a = self._diag_moments(k, m)[fn]
            b = self._diag_moments(k, 2 * m)[fn]
            if bool(torch.isfinite(a) & torch.isfinite(b) & ((a - b).abs() <= 1e-2 * (1.0 + b.abs()))) \
                    and self._tails_negligible(k, 2 * m, fn):
                raise UserError(
                    f"nonlinearity {self.name!r}: the quadrature order ({self.points} points per axis) is too coarse "
                    f"for E[{what}(u)^2] at u ~ N(0, {float(k):.3g}); {m} points converge: pass "
                    f"`quadrature_points={m}`"
                )
        raise UserError(
            f"nonlinearity {self.name!r}: E[{what}(u)^2] for u ~ N(0, {float(k):.3g}) is not finite or the "
            f"quadrature does not converge even with {64 * self.points} points (not square-integrable under a "
            "Gaussian); use a function of at most exponential growth with a square-integrable derivative"
        )

    def _tails_negligible(self, k: Tensor, points: int, fn: int) -> bool:
        """True when the outermost nodes carry a negligible share of the moment: the rule on [-9, 9]
        then approximates the integral over the whole line (False for e.g. exp(u^2), whose truncated
        integral converges to a finite but wrong value)."""
        z, w = self._nodes(k, points)
        u = k.clamp(min=0).sqrt().unsqueeze(-1) * z
        terms = ((self.phi(u) if fn == 0 else self.dphi(u)) ** 2) * w
        total = terms.sum()
        return bool(torch.isfinite(total) and (terms[..., [0, -1]].sum() <= 1e-8 * (1.0 + total)))

    def pair(self, k12: Tensor, k11: Tensor, k22: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        # u = sqrt(k11) z_i, v = sqrt(k22) (rho z_i + sqrt(1 - rho^2) z_j), summed over (i, j).
        z, w = self._nodes(k12)
        tiny = torch.finfo(k12.dtype).tiny
        s1 = k11.clamp(min=0).sqrt()
        s2 = k22.clamp(min=0).sqrt()
        shape = torch.broadcast_shapes(k12.shape, k11.shape, k22.shape)
        k12 = k12.expand(shape)
        s1b, s2b = s1.expand(shape), s2.expand(shape)
        nngp = torch.empty(shape, dtype=k12.dtype, device=k12.device)
        ntk = torch.empty_like(nngp)
        flat12, f1, f2 = k12.reshape(-1), s1b.reshape(-1), s2b.reshape(-1)
        out_n, out_d = nngp.view(-1), ntk.view(-1)
        step = max(1, self.chunk // (self.points * self.points))
        for start in range(0, flat12.numel(), step):
            sl = slice(start, start + step)
            a, b, c = f1[sl], f2[sl], flat12[sl]
            rho = (c / (a * b).clamp(min=tiny)).clamp(-1.0, 1.0)
            perp = (1.0 - rho * rho).clamp(min=0).sqrt()
            u = a[:, None] * z[None, :]  # (m, Q)
            v = b[:, None, None] * (rho[:, None, None] * z[None, :, None] + perp[:, None, None] * z[None, None, :])
            pu, du = self.phi(u), self.dphi(u)
            pv, dv = self.phi(v), self.dphi(v)  # (m, Q, Q)
            out_n[sl] = torch.einsum("mi,mij,i,j->m", pu, pv, w, w)
            out_d[sl] = torch.einsum("mi,mij,i,j->m", du, dv, w, w)
        return (nngp.mul_(scale), ntk.mul_(scale)) if scale != 1.0 else (nngp, ntk)


class Tanh(Quadrature):
    def __init__(self, points: int = 100) -> None:
        super().__init__(torch.tanh, name="tanh", dphi=lambda x: 1.0 - torch.tanh(x) ** 2, points=points)


def get_nonlinearity(spec: str | Callable[[Tensor], Tensor] | Nonlinearity, points: int = 100) -> Nonlinearity:
    """A piece from any name of :mod:`infwidth.nonlinearities` (closed form where one exists, else
    quadrature of the shared ``phi``, ``phi'``), an existing piece, or any elementwise torch callable."""
    if isinstance(spec, Nonlinearity):
        return spec
    if isinstance(spec, str):
        entry = _nl.get(spec)
        if entry.slope is not None:  # relu and leaky_relu:ALPHA: arc-cosine closed form
            return LeakyRelu(entry.slope)
        closed: dict[str, Callable[[], Nonlinearity]] = {
            "erf": Erf, "gelu": Gelu, "sin": Sin, "identity": Identity, "tanh": lambda: Tanh(points),
        }
        if entry.name in closed:
            return closed[entry.name]()
        return Quadrature(entry.phi, name=entry.name, dphi=entry.dphi, points=points)
    if callable(spec):
        return Quadrature(spec, points=points)
    raise UserError(f"nonlinearity must be a name or a callable, got {spec!r}; choose one of {_nl.choices()}")
