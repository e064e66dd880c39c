"""The kernel-regime limit of a parametrization's MLP as a :class:`~infwidth.limits.interface.Limit`.

``sample(width, seed)`` is the finite :class:`~infwidth.networks.AbcMLP`; ``train(...)`` is the
infinite-width network's function-space SGD (:class:`KernelSGD` with the parametrization's regime
kernel, ``f_0`` a seeded GP sample or 0 as the parametrization dictates), on the shared cyclic
minibatches. The trajectory's ``kernel`` is the kernel training follows: the NTK of the surviving
layers (constant in the limit; for a finite net, its empirical counterpart
``sum_tensors (lr_tensor / lr) J J^T`` of the first output, which moves by ``O(n^{-1/2})``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from infwidth.errors import UserError, check_int
from infwidth.limits.interface import Trajectory
from infwidth.limits.kernels.nonlinearities import get_nonlinearity
from infwidth.limits.kernels.regime import regime_kernel_fn
from infwidth.limits.kernels.training import KernelSGD
from infwidth.limits.sgd import batch_indices, check_data, check_width, resolve_loss

Tensor = torch.Tensor


class KernelRegimeLimit:
    """The infinite-width limit of ``p.mlp(width, d_in, d_out, nonlinearity=..., bias=...)`` under ``net.sgd(lr)``."""

    def __init__(
        self,
        p: Any,
        d_in: int,
        d_out: int = 1,
        nonlinearity: str | Callable[[Tensor], Tensor] = "relu",
        bias: bool = False,
        bias_std: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        seed: int = 0,
    ) -> None:
        check_int(d_in, "d_in")
        check_int(d_out, "d_out")
        self.p, self.d_in, self.d_out, self.bias, self.bias_std = p, d_in, d_out, bool(bias), float(bias_std)
        self.phi = get_nonlinearity(nonlinearity)
        self.kernel = regime_kernel_fn(p, d_in, nonlinearity=self.phi, bias=bias, bias_std=bias_std,
                                       dtype=dtype, device=device)
        self.dtype, self.device, self.seed = dtype, device, int(seed)

    def sample(self, width: int, seed: int) -> torch.nn.Module:
        """The finite width-``width`` AbcMLP of this parametrization (seeded)."""
        from infwidth.networks import AbcMLP

        return AbcMLP(self.p, check_width(width), self.d_in, self.d_out, nonlinearity=self.phi.phi, bias=self.bias,
                      bias_std=self.bias_std, dtype=self.dtype, device=self.device, seed=seed)

    def sgd(self, lr: float, loss: Any = "mse", f0: str | Callable[[Tensor], Tensor] | None = None) -> KernelSGD:
        """The function-space SGD of the limit; ``f0`` defaults to the parametrization's prior (GP or 0)."""
        if f0 is None:
            f0 = "gp" if (self.kernel.f0 == "gp" or (self.bias and self.bias_std > 0)) else "zero"
        return KernelSGD(self.kernel, lr=lr, d_out=self.d_out, loss=loss, f0=f0, seed=self.seed)

    def train(self, x: Tensor, y: Tensor, lr: float, steps: int, batch: int, eval_x: Tensor,
              loss: Any = "mse", f0: str | Callable[[Tensor], Tensor] | None = None) -> Trajectory:
        """Function-space SGD on the cyclic minibatches; ``f`` and the training kernel on ``eval_x``."""
        x, y, eval_x = self._data(x, y, eval_x, batch, steps)
        limit = self.sgd(lr, _kernel_loss(loss), f0)
        ntk = getattr(self.kernel(eval_x), limit.which)
        fs = [limit.predict(eval_x)]
        for t in range(steps):
            idx = batch_indices(t, batch, x.shape[0])
            limit.step(x[idx], y[idx])
            fs.append(limit.predict(eval_x))
        kernel = ntk.expand(steps + 1, *ntk.shape).clone()
        return Trajectory(torch.stack(fs), kernel, info={"method": "function-space SGD (exact)",
                                                         "kernel": self.kernel.kernel, "f0": limit.f0_kind})

    def finite_trajectory(self, width: int, seed: int, x: Tensor, y: Tensor, lr: float, steps: int, batch: int,
                          eval_x: Tensor, loss: Any = "mse") -> Trajectory:
        """``sample(width, seed)`` trained by ``net.sgd(lr)``; ``f`` and its empirical training kernel on ``eval_x``."""
        x, y, eval_x = self._data(x, y, eval_x, batch, steps)
        net = self.sample(width, seed)
        opt = net.sgd(lr)
        loss_fn = resolve_loss(loss)
        fs, ks = [], []

        def record() -> None:
            with torch.no_grad():
                fs.append(net(eval_x).detach().clone())
            ks.append(_empirical_kernel(net, opt, lr, eval_x))

        record()
        for t in range(steps):
            idx = batch_indices(t, batch, x.shape[0])
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
            record()
        return Trajectory(torch.stack(fs), torch.stack(ks))

    def _data(self, x: Tensor, y: Tensor, eval_x: Tensor, batch: int, steps: int) -> tuple[Tensor, Tensor, Tensor]:
        check_data(x, y, self.d_in, self.d_out, batch, steps)
        return tuple(t.to(dtype=self.dtype, device=self.device) for t in (x, y, eval_x.reshape(-1, self.d_in)))


def _kernel_loss(loss: Any) -> Any:
    """The shared loss names as :class:`KernelSGD` spells them."""
    if loss == "xent":
        return "cross_entropy"
    if isinstance(loss, str) and loss not in ("mse", "cross_entropy"):
        raise UserError(f"unknown loss {loss!r}; use mse or xent")
    return loss


def _empirical_kernel(net: torch.nn.Module, opt: torch.optim.Optimizer, lr: float, eval_x: Tensor) -> Tensor:
    """``sum_tensors (lr_tensor / lr) <df(x_i)/dW, df(x_j)/dW>`` for the first output: the kernel SGD follows."""
    groups = [(g["params"][0], g["lr"] / lr) for g in opt.param_groups]
    rows = []
    for xi in eval_x:
        grads = torch.autograd.grad(net(xi[None])[0, 0], [p for p, _ in groups])
        rows.append(torch.cat([(g * w**0.5).reshape(-1) for g, (_, w) in zip(grads, groups, strict=True)]))
    jac = torch.stack(rows)
    return (jac @ jac.mT).detach()


__all__ = ["KernelRegimeLimit"]
