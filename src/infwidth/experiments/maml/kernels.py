"""First-order MAML in function space with a fixed kernel: the GP and NTK baselines of the paper's MAML experiment.

In the kernel regime a network *is* its function ``f``; an SGD step of size ``eta`` on a loss over
points ``X`` changes it by ``-eta K(., X) dL/df(X)`` (``K`` = NTK, or the NNGP kernel when only the
readout trains). So first-order MAML becomes:

* inner step on the support set ``S``:  ``f' = f0 - eta K(., S) g_S``, ``g_S = dL_S/df(S)``
  (cross-entropy averaged over ``S``, so ``g_S = (softmax(f(S)) - onehot) / |S|``);
* meta-step: ``f0 <- f0 - lr * r * sum_tasks K(., Q) g_Q`` with ``g_Q`` the query-loss gradient at
  the adapted function and ``r = min(1, clip / (norm + 1e-6))`` the clip ratio for the RKHS norm of the summed step
  (``||h||^2 = sum g_i^T K(x_i, x_j) g_j``, which equals the parameter-gradient norm of the
  linearized network, so clipping matches parameter space).

``f0`` starts at 0 (the paper's zero readout, not a GP prior sample) and is a kernel expansion over
the meta-training pool of images: ``f0(x) = K(x, pool) @ coeffs`` where only the rows of the query
images seen so far are non-zero (coefficients of repeated images add up).
See docs/maml.md for why meta-training in function space can barely help here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from infwidth.errors import UserError
from infwidth.experiments.maml.fomaml import BatchResult
from infwidth.experiments.maml.tasks import TaskBatch

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
KERNELS = ("gp-relu", "ntk-relu", "gp-linear", "ntk-linear")


def make_kernel(
    name: str,
    *,
    sigma_u: float = 1.0,
    sigma_v: float = 1.0,
    sigma_b: float = 1.0,
    d: int = 784,
    dtype: torch.dtype = torch.float64,
) -> Kernel:
    """Kernel of a 1-hidden-layer net ``d -> inf -> out`` in the paper's convention.

    First-layer pre-activations have variance ``sigma_u^2 |x|^2 + sigma_b^2`` (no 1/d, as the muP
    limit's ``A_0 = sigma_u I``), readout variance ``sigma_v^2``; ``gp-*`` is the NNGP kernel (only the
    readout trains), ``ntk-*`` the NTK (both layers train). Built on ``infwidth.limits.kernels.mlp_kernels``.
    """
    if name not in KERNELS:
        raise UserError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    from infwidth.limits.kernels import MLPKernel

    which, phi = name.split("-")
    mlp = MLPKernel(
        depth=1,
        nonlinearity="relu" if phi == "relu" else "identity",
        w_std=sigma_u * d**0.5,  # w_std^2 <x,x'>/d = sigma_u^2 <x,x'>
        b_std=sigma_b if phi == "relu" else 0.0,
        out_w_std=sigma_v,
        out_b_std=0.0,
        dtype=dtype,
    )

    def kernel(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        if which == "gp":
            return mlp.nngp(x1.to(dtype), x2.to(dtype))
        return mlp(x1.to(dtype), x2.to(dtype)).ntk

    return kernel


class KernelMAML:
    """First-order MAML of a function trained by kernel gradient descent (vectorized over tasks)."""

    def __init__(
        self,
        kernel: Kernel,
        pool: torch.Tensor,
        num_outputs: int,
        *,
        step_size: float,
        steps: int,
        meta_lr: float,
        clip: float | None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
        chunk: int = 4096,
    ) -> None:
        self.kernel, self.num_outputs = kernel, num_outputs
        self.step_size, self.steps, self.meta_lr, self.clip = step_size, steps, meta_lr, clip
        self.dtype, self.device, self.chunk = dtype, torch.device(device), chunk
        self.pool = pool.to(self.device)  # (P, D) meta-train inputs; centres are rows of it
        self.coeffs = torch.zeros(pool.shape[0], num_outputs, dtype=dtype, device=self.device)

    def f0(self, x: torch.Tensor) -> torch.Tensor:
        """The meta-learned initial function at points ``x`` (N, D)."""
        out = torch.zeros(x.shape[0], self.num_outputs, dtype=self.dtype, device=self.device)
        active = torch.nonzero(self.coeffs.abs().sum(-1) > 0).flatten()
        for start in range(0, active.numel(), self.chunk):
            idx = active[start : start + self.chunk]
            out += self.kernel(x, self.pool[idx].to(self.dtype)) @ self.coeffs[idx]
        return out

    @property
    def num_centres(self) -> int:
        return int((self.coeffs.abs().sum(-1) > 0).sum())

    def adapt(self, batch: TaskBatch, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Query logits (T, q, O) after ``steps`` kernel-SGD steps on each support set, and the query labels."""
        b = batch.to(self.device)
        sx, qx = b.support_x.to(self.dtype), b.query_x.to(self.dtype)
        T, s, _ = sx.shape
        q = qx.shape[1]
        pts = torch.cat([sx, qx], 1).reshape(T * (s + q), -1)
        f_all = self.f0(pts).reshape(T, s + q, -1)
        f_s, f_q = f_all[:, :s].clone(), f_all[:, s:].clone()
        if steps > 0:
            # one kernel call for all tasks' points, then each task's (support+query) x support block
            k_all = self.kernel(pts, pts).reshape(T, s + q, T, s + q)
            blocks = k_all[torch.arange(T), :, torch.arange(T)]  # (T, s+q, s+q)
            k_ss, k_qs = blocks[:, :s, :s], blocks[:, s:, :s]
            onehot = torch.nn.functional.one_hot(b.support_y, self.num_outputs).to(self.dtype)
            for _ in range(steps):
                g = (torch.softmax(f_s, -1) - onehot) / s
                f_s = f_s - self.step_size * k_ss @ g
                f_q = f_q - self.step_size * k_qs @ g
        return f_q, b.query_y

    @staticmethod
    def _results(f_q: torch.Tensor, y: torch.Tensor) -> BatchResult:
        logp = torch.log_softmax(f_q, -1)
        losses = -logp.gather(-1, y[..., None])[..., 0].mean(-1)
        accs = (f_q.argmax(-1) == y).to(torch.float64).mean(-1)
        return BatchResult(losses.cpu().numpy(), accs.cpu().numpy())

    def evaluate(self, batch: TaskBatch, steps: int) -> BatchResult:
        f_q, y = self.adapt(batch, steps)
        return self._results(f_q, y)

    def meta_step(self, batch: TaskBatch) -> BatchResult:
        f_q, y = self.adapt(batch, self.steps)
        T, q, _ = f_q.shape
        if self.meta_lr != 0:  # with meta_lr = 0 (the default baselines) the step and its clip norm are skipped
            if batch.query_index is None:
                raise UserError("function-space meta-training needs tasks from the pool's sampler (query_index missing)")
            g_q = (torch.softmax(f_q, -1) - torch.nn.functional.one_hot(y, self.num_outputs).to(self.dtype)) / q
            g = g_q.reshape(T * q, -1)
            ratio = 1.0
            if self.clip is not None and self.clip > 0:
                x = batch.query_x.to(device=self.device, dtype=self.dtype).reshape(T * q, -1)
                norm = float(torch.sqrt(torch.clamp(torch.sum(g * (self.kernel(x, x) @ g)), min=0.0)))
                ratio = min(1.0, self.clip / (norm + 1e-6))  # the 1e-6 of torch's clip_grad_norm_
            self.coeffs.index_add_(0, batch.query_index.to(self.device).reshape(-1), -self.meta_lr * ratio * g)
        return self._results(f_q, y)

    def state_dict(self) -> dict[str, Any]:
        return {"coeffs": self.coeffs.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["coeffs"].shape != self.coeffs.shape:
            raise UserError(f"checkpoint holds {tuple(state['coeffs'].shape)} coefficients, the pool needs "
                            f"{tuple(self.coeffs.shape)}; evaluate with the data and split it was trained on")
        self.coeffs = state["coeffs"].to(device=self.device, dtype=self.dtype)

