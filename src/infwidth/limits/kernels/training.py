"""Exact infinite-width training in the kernel regime: SGD in function space, and the MSE closed form.

In the limit ``f_{t+1}(x) = f_t(x) - lr sum_b K(x, x_b) dLoss/df(x_b)`` (the kernel regime of the Dynamical Dichotomy; the loss is a
mean over the batch, so the gradient carries ``1/B``). Every ``f_t`` is ``f_0 + sum_s K(., X_s) A_s``,
so the state is the distinct inputs seen and their coefficients ``A`` -- never the kernel of
everything seen. A step costs one kernel block ``K(batch, stored)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from infwidth import losses as _losses
from infwidth.errors import UserError, check_int
from infwidth.limits.kernels.mlp import Kernels, as_inputs

Tensor = torch.Tensor
KernelFn = Callable[..., Kernels]
LOSSES = _losses.NAMES  # mse, cross_entropy (alias xent): infwidth.losses


def loss_gradient(loss: str | Callable[[Tensor, Tensor], Tensor], f: Tensor, y: Tensor) -> tuple[float, Tensor]:
    """``(mean loss, dLoss/df)`` for a batch. ``mse`` is ``0.5 ||f - y||^2`` per input; ``cross_entropy``
    takes integer class labels; a callable ``loss(f, y) -> scalar`` is differentiated by autograd."""
    if isinstance(loss, str) and loss.strip().lower() in _losses.ALIASES:
        loss = _losses.canonical(loss)
    if loss == "mse":
        if y.shape != f.shape:
            raise UserError(f"mse targets must have shape {tuple(f.shape)} (batch, d_out), got {tuple(y.shape)}")
        r = f - y
        return float(0.5 * (r * r).sum(1).mean()), r / f.shape[0]
    if loss == "cross_entropy":
        if y.dim() != 1 or y.shape[0] != f.shape[0]:
            raise UserError(f"cross_entropy targets must be integer labels of shape ({f.shape[0]},), got {tuple(y.shape)}")
        labels = y.long()
        if bool((labels < 0).any()) or bool((labels >= f.shape[1]).any()):
            raise UserError(f"cross_entropy labels must lie in 0..{f.shape[1] - 1} (d_out classes)")
        logp = torch.log_softmax(f, dim=1)
        value = float(-logp.gather(1, labels[:, None]).mean())
        g = logp.exp()
        g[torch.arange(f.shape[0]), labels] -= 1.0
        return value, g / f.shape[0]
    if callable(loss):
        with torch.enable_grad():
            fg = f.detach().requires_grad_(True)
            value = loss(fg, y)
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise UserError("a loss callable must return a scalar tensor (the mean loss of the batch)")
            (g,) = torch.autograd.grad(value, fg)
        return float(value.detach()), g.detach()
    raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} or pass a callable loss(f, y)")


class _GPPrior:
    """A sample of the GP with the NNGP kernel, drawn lazily and consistently at the points asked for."""

    def __init__(self, kernel: KernelFn, d_out: int, gen: torch.Generator, jitter: float = 1e-10) -> None:
        self.kernel, self.d_out, self.gen, self.jitter = kernel, d_out, gen, jitter
        self.x: Tensor | None = None
        self.f: Tensor | None = None
        self.index: dict[bytes, int] = {}

    def __call__(self, x: Tensor) -> Tensor:
        keys = [_key(row) for row in x]
        fresh = list(dict.fromkeys(k for k in keys if k not in self.index))
        if fresh:
            pos = {k: i for i, k in enumerate(keys)}
            xn = x[[pos[k] for k in fresh]]
            knn = self.kernel(xn).nngp
            eps = torch.randn(len(fresh), self.d_out, generator=self.gen, dtype=torch.float64).to(knn)
            if self.x is None:
                mean, cov = torch.zeros(len(fresh), self.d_out, dtype=knn.dtype, device=knn.device), knn
            else:
                kee = self.kernel(self.x).nngp
                ken = self.kernel(self.x, xn).nngp
                chol = _cholesky(kee, self.jitter)
                sol = torch.cholesky_solve(ken, chol)
                mean = sol.T @ self.f
                cov = knn - ken.T @ sol
            fn = mean + _cholesky(0.5 * (cov + cov.T), self.jitter) @ eps
            start = 0 if self.x is None else self.x.shape[0]
            self.x = xn if self.x is None else torch.cat([self.x, xn])
            self.f = fn if self.f is None else torch.cat([self.f, fn])
            for i, k in enumerate(fresh):
                self.index[k] = start + i
        return self.f[[self.index[k] for k in keys]]


class _Memo:
    """A given f_0, evaluated once per distinct input (it is fixed; a finite network costs a pass)."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        self.fn, self.values = fn, {}

    def __call__(self, x: Tensor) -> Tensor:
        keys = [_key(row) for row in x]
        fresh = [i for i, k in enumerate(keys) if k not in self.values]
        if fresh:
            vals = torch.as_tensor(self.fn(x[fresh]))
            if vals.dim() != 2 or vals.shape[0] != len(fresh):
                raise UserError(f"f0 must return shape (N, d_out) for N inputs, got {tuple(vals.shape)}")
            for i, v in zip(fresh, vals, strict=True):
                self.values[keys[i]] = v
        return torch.stack([self.values[k] for k in keys])


def _cholesky(mat: Tensor, jitter: float) -> Tensor:
    scale = float(mat.diagonal().abs().max()) if mat.numel() else 1.0
    eye = torch.eye(mat.shape[0], dtype=mat.dtype, device=mat.device)
    for j in (jitter, 1e-8, 1e-6):
        chol, info = torch.linalg.cholesky_ex(mat + j * max(scale, 1e-300) * eye)
        if int(info) == 0:
            return chol
    raise UserError("the NNGP kernel of these inputs is not positive definite even with jitter; drop duplicate inputs")


def _key(row: Tensor) -> bytes:
    return row.detach().cpu().numpy().tobytes()


class KernelSGD:
    """Minibatch SGD of the infinite-width network in function space (kernel regime).

    ``kernel`` is a kernel function ``(x1, x2=None) -> Kernels`` (an :class:`MLPKernel` or a
    parametrization's :class:`~infwidth.limits.kernels.regime.RegimeKernel`); ``which`` picks the
    kernel that trains (``"ntk"``, or ``"nngp"`` for readout-only training). ``f0`` is ``"zero"``,
    ``"gp"`` (a sample of the GP with the NNGP kernel, seeded) or a callable ``x -> (N, d_out)``
    (e.g. a finite network at initialisation, to follow the same function).
    """

    def __init__(
        self,
        kernel: KernelFn,
        *,
        lr: float,
        d_out: int = 1,
        loss: str | Callable[[Tensor, Tensor], Tensor] = "mse",
        f0: str | Callable[[Tensor], Tensor] = "zero",
        which: str = "ntk",
        seed: int = 0,
    ) -> None:
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise UserError(f"lr must be a positive finite number, got {lr!r}")
        check_int(d_out, "d_out")
        if which not in ("ntk", "nngp"):
            raise UserError(f"which must be 'ntk' or 'nngp', got {which!r}")
        if isinstance(loss, str) and loss.strip().lower() in _losses.ALIASES:
            loss = _losses.canonical(loss)
        if isinstance(loss, str) and loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} or pass a callable loss(f, y)")
        if loss == "cross_entropy" and d_out < 2:
            raise UserError("cross_entropy needs d_out >= 2 outputs (one logit per class)")
        self.kernel, self.lr, self.d_out, self.loss, self.which = kernel, float(lr), d_out, loss, which
        self.dtype: torch.dtype = getattr(kernel, "dtype", torch.float64)
        self.device: torch.device = getattr(kernel, "device", torch.device("cpu"))
        self.seed = int(seed)
        self._gen = torch.Generator(device="cpu").manual_seed(self.seed)
        if isinstance(f0, str):
            if f0 not in ("zero", "gp"):
                raise UserError(f"f0 must be 'zero', 'gp' or a callable, got {f0!r}")
            self._f0: Callable[[Tensor], Tensor] | None = _GPPrior(kernel, d_out, self._gen) if f0 == "gp" else None
        elif callable(f0):
            self._f0 = _Memo(f0)
        else:
            raise UserError(f"f0 must be 'zero', 'gp' or a callable, got {f0!r}")
        self.f0_kind = f0 if isinstance(f0, str) else "given"
        self.x = torch.empty(0, 0, dtype=self.dtype, device=self.device)  # stored distinct inputs
        self.coef = torch.empty(0, d_out, dtype=self.dtype, device=self.device)
        self._index: dict[bytes, int] = {}
        self.steps = 0

    @classmethod
    def for_parametrization(
        cls, p: Any, d_in: int, *, lr: float, nonlinearity: Any = "relu", bias: bool = False,
        bias_std: float = 1.0, d_out: int = 1, loss: Any = "mse", seed: int = 0, **kernel_kwargs: Any,
    ) -> KernelSGD:
        """The infinite-width limit of ``p``'s finite nets under SGD at rate ``lr``: the regime kernel,
        and ``f_0`` a GP sample or 0 as the parametrization dictates."""
        from infwidth.limits.kernels.regime import regime_kernel_fn

        rk = regime_kernel_fn(p, d_in, nonlinearity=nonlinearity, bias=bias, bias_std=bias_std, **kernel_kwargs)
        has_prior = rk.f0 == "gp" or (bias and bias_std > 0)
        return cls(rk, lr=lr, d_out=d_out, loss=loss, f0="gp" if has_prior else "zero", seed=seed)

    # ---- evaluation --------------------------------------------------------------------------
    def _inputs(self, x: Any) -> Tensor:
        t = as_inputs(x, "x", self.dtype, self.device)
        if self.x.numel() and t.shape[1] != self.x.shape[1]:
            raise UserError(f"inputs have {t.shape[1]} features but training used {self.x.shape[1]}; use the same d")
        return t

    def f0(self, x: Any) -> Tensor:
        """The initial function at ``x`` (``(N, d_out)``)."""
        t = self._inputs(x)
        if self._f0 is None:
            return torch.zeros(t.shape[0], self.d_out, dtype=self.dtype, device=self.device)
        out = torch.as_tensor(self._f0(t)).to(dtype=self.dtype, device=self.device)
        if out.shape != (t.shape[0], self.d_out):
            raise UserError(f"f0 must return shape ({t.shape[0]}, {self.d_out}), got {tuple(out.shape)}")
        return out

    def predict(self, x: Any) -> Tensor:
        """``f_t(x) = f_0(x) + K(x, X_stored) A``, shape ``(N, d_out)``."""
        t = self._inputs(x)
        out = self.f0(t)
        if self.coef.shape[0]:
            out = out + getattr(self.kernel(t, self.x), self.which) @ self.coef
        return out

    # ---- training ----------------------------------------------------------------------------
    def step(self, x: Any, y: Any) -> float:
        """One SGD step on the batch ``(x, y)``; returns the batch loss before the step."""
        t = self._inputs(x)
        target = torch.as_tensor(y).to(device=self.device)
        if self.loss == "mse" or target.is_floating_point():
            target = target.to(self.dtype)
            if target.dim() == 1 and self.d_out == 1:
                target = target[:, None]
        value, grad = loss_gradient(self.loss, self.predict(t), target)
        if not math.isfinite(value):
            raise UserError("the loss became non-finite; lower lr")
        self._add(t, -self.lr * grad)
        self.steps += 1
        return value

    def _add(self, x: Tensor, delta: Tensor) -> None:
        rows = []
        for i, row in enumerate(x):
            k = _key(row)
            j = self._index.get(k)
            if j is None:
                j = self._index[k] = len(self._index)
                rows.append(i)
        if rows:
            self.x = x[rows].clone() if not self.x.numel() else torch.cat([self.x, x[rows]])
            self.coef = torch.cat([self.coef, torch.zeros(len(rows), self.d_out, dtype=self.dtype, device=self.device)])
        idx = torch.tensor([self._index[_key(row)] for row in x], device=self.device)
        self.coef.index_add_(0, idx, delta)

    @property
    def stored(self) -> int:
        """Number of distinct inputs held in the state."""
        return self.coef.shape[0]

    def state_dict(self) -> dict[str, Any]:
        """Coefficients, stored inputs, step count and generator state (f0 'gp' draws included)."""
        state: dict[str, Any] = {"x": self.x.cpu(), "coef": self.coef.cpu(), "steps": self.steps,
                                 "gen": self._gen.get_state(), "f0_kind": self.f0_kind}
        if isinstance(self._f0, _GPPrior) and self._f0.x is not None:
            state["gp_x"], state["gp_f"] = self._f0.x.cpu(), self._f0.f.cpu()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume exactly from :meth:`state_dict`."""
        self.x = state["x"].to(self.device, self.dtype)
        self.coef = state["coef"].to(self.device, self.dtype)
        self.steps = int(state["steps"])
        self._gen.set_state(state["gen"])
        self._index = {_key(row): i for i, row in enumerate(self.x)}
        if isinstance(self._f0, _GPPrior) and "gp_x" in state:
            self._f0.x = state["gp_x"].to(self.device, self.dtype)
            self._f0.f = state["gp_f"].to(self.device, self.dtype)
            self._f0.index = {_key(row): i for i, row in enumerate(self._f0.x)}


def mse_closed_form(
    k_train: Tensor,
    y_train: Tensor,
    *,
    lr: float,
    t: float,
    k_test_train: Tensor | None = None,
    f0_train: Tensor | None = None,
    f0_test: Tensor | None = None,
    discrete: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Full-batch MSE training in function space, in closed form: ``(f_t(train), f_t(test))``.

    Loss ``0.5/N sum ||f - y||^2``. Gradient flow (``discrete=False``): ``f_t = y + exp(-lr K t/N)(f_0 - y)``
    on the training set; ``discrete=True`` gives ``t`` steps of full-batch GD, ``(I - lr K/N)^t``.
    ``t = inf`` is kernel regression (pseudo-inverse on K's range). Test points follow
    ``f_t(x) = f_0(x) + K(x, X) K^{-1} (I - E_t)(y - f_0(X))``, evaluated through K's eigenbasis so
    a singular K needs no inverse at finite t.
    """
    y = y_train if y_train.dim() == 2 else y_train[:, None]
    n = k_train.shape[0]
    if k_train.shape != (n, n) or y.shape[0] != n:
        raise UserError(f"k_train must be (N, N) and y_train (N, d_out); got {tuple(k_train.shape)} and {tuple(y_train.shape)}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise UserError(f"lr must be a positive number, got {lr!r}")
    if not (t >= 0):
        raise UserError(f"t must be >= 0 (or inf), got {t!r}")
    f0 = torch.zeros_like(y) if f0_train is None else (f0_train if f0_train.dim() == 2 else f0_train[:, None])
    lam, vec = torch.linalg.eigh(0.5 * (k_train + k_train.T))
    lam = lam.clamp(min=0)
    cutoff = lam.max() * n * torch.finfo(lam.dtype).eps
    rate = lr * lam / n
    if math.isinf(t):
        decay = (lam <= cutoff).to(lam.dtype)  # directions K cannot move stay at f_0
        gain = torch.where(lam > cutoff, 1.0 / lam.clamp(min=cutoff), torch.zeros_like(lam))
    else:
        decay = (1.0 - rate) ** t if discrete else torch.exp(-rate * t)
        # (1 - decay)/lam, with its small-lam limit lr t/N (continuous) or lr t/N too (discrete)
        small = lam <= cutoff
        gain = torch.where(small, torch.full_like(lam, lr * t / n), (1.0 - decay) / lam.clamp(min=cutoff))
    resid = vec.T @ (y - f0)
    train = y - vec @ (decay[:, None] * resid)
    test = None
    if k_test_train is not None:
        g0 = torch.zeros(k_test_train.shape[0], y.shape[1], dtype=y.dtype, device=y.device) if f0_test is None else (
            f0_test if f0_test.dim() == 2 else f0_test[:, None])
        test = g0 + k_test_train @ (vec @ (gain[:, None] * resid))
    return train, test
