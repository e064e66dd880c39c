"""First-order MAML for any ``nn.Module`` (Tensor Programs IV's MAML experiment), plus the meta-train loop with checkpoints.

Inner loop: ``steps`` plain SGD steps of size ``step_size`` on the support cross-entropy, computed
with ``torch.func.functional_call`` so the module itself is never modified. Outer loop (first
order): the query-loss gradient at the adapted parameters is *summed* over the tasks of a
meta-batch, its global norm clipped, and applied by an SGD meta-step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from infwidth.errors import Diverged, UserError
from infwidth.experiments.maml.tasks import TaskBatch, TaskSampler


@dataclass
class BatchResult:
    """Per-task query losses and accuracies of one meta-batch (after adaptation)."""

    losses: np.ndarray
    accuracies: np.ndarray


class MetaLearner(Protocol):
    """What the training loop needs: a meta-step, an evaluation, and a state to checkpoint."""

    def meta_step(self, batch: TaskBatch) -> BatchResult: ...
    def evaluate(self, batch: TaskBatch, steps: int) -> BatchResult: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def adapt(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    step_size: float,
    steps: int,
) -> dict[str, torch.Tensor]:
    """``steps`` SGD steps on the support loss, returning new (detached) parameters: first order."""
    for _ in range(steps):
        params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        loss = F.cross_entropy(functional_call(model, params, (x,)), y)
        grads = torch.autograd.grad(loss, list(params.values()))
        params = {k: (v - step_size * g).detach() for (k, v), g in zip(params.items(), grads, strict=True)}
    return params


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(-1) == y).to(torch.float64).mean().item())


class ParamMAML:
    """First-order MAML of a parameter-space model (finite muP net, or the exact linear limit)."""

    def __init__(self, model: nn.Module, *, step_size: float, steps: int, meta_lr: float, clip: float | None) -> None:
        self.model, self.step_size, self.steps, self.clip = model, step_size, steps, clip
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=meta_lr)

    def _params(self) -> dict[str, torch.Tensor]:
        named = dict(self.model.named_parameters())
        return {n: named[n] for n in self.names}

    def _run(self, batch: TaskBatch, steps: int, train: bool) -> BatchResult:
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        batch = batch.to(device)
        meta = self._params()
        grads = {n: torch.zeros_like(p) for n, p in meta.items()} if train else None
        losses, accs = [], []
        for t in range(batch.num_tasks):
            sx, qx = batch.support_x[t].to(dtype), batch.query_x[t].to(dtype)
            fast = adapt(self.model, meta, sx, batch.support_y[t], self.step_size, steps)
            if train:
                fast = {k: v.requires_grad_(True) for k, v in fast.items()}
                logits = functional_call(self.model, fast, (qx,))
                loss = F.cross_entropy(logits, batch.query_y[t])
                for n, g in zip(fast, torch.autograd.grad(loss, list(fast.values())), strict=True):
                    grads[n] += g  # first order: d loss / d fast, summed over tasks
            else:
                with torch.no_grad():
                    logits = functional_call(self.model, fast, (qx,))
                    loss = F.cross_entropy(logits, batch.query_y[t])
            losses.append(float(loss.item()))
            accs.append(_accuracy(logits.detach(), batch.query_y[t]))
        if train:
            for n, p in meta.items():
                p.grad = grads[n]
            if self.clip is not None and self.clip > 0:
                torch.nn.utils.clip_grad_norm_(list(meta.values()), self.clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return BatchResult(np.array(losses), np.array(accs))

    def meta_step(self, batch: TaskBatch) -> BatchResult:
        return self._run(batch, self.steps, train=True)

    def evaluate(self, batch: TaskBatch, steps: int) -> BatchResult:
        return self._run(batch, steps, train=False)

    def state_dict(self) -> dict[str, Any]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)


@dataclass
class TrainState:
    """Everything a resumed run needs: finished epochs, current and best states, the history."""

    epoch: int = 0
    learner: dict[str, Any] | None = None
    best: dict[str, Any] | None = None
    best_val: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def evaluate(
    learner: MetaLearner,
    sampler: TaskSampler,
    *,
    batches: int,
    meta_batch: int,
    steps: int,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Adapt to ``batches`` x ``meta_batch`` tasks of ``sampler`` and return per-task query results."""
    losses, accs = [], []
    for i in range(batches):
        res = learner.evaluate(sampler.batch(i, meta_batch), steps)
        losses.append(res.losses)
        accs.append(res.accuracies)
        if progress is not None:
            progress(1)
    return BatchResult(np.concatenate(losses), np.concatenate(accs))


def meta_train(
    learner: MetaLearner,
    train: TaskSampler,
    val: TaskSampler,
    *,
    epochs: int,
    batches_per_epoch: int,
    meta_batch: int,
    val_batches: int,
    val_steps: int,
    checkpoint: Path | None = None,
    state: TrainState | None = None,
    progress: Callable[[str, dict[str, float]], None] | None = None,
) -> TrainState:
    """Meta-train for ``epochs`` x ``batches_per_epoch`` meta-batches, keeping the best state on meta-val.

    Meta-batch ``e * batches_per_epoch + b`` is always the same tasks, and the meta-val tasks are the
    same every epoch, so a run resumed from the checkpoint written after each epoch ends exactly as
    an uninterrupted run would.
    """
    from infwidth.runs import atomic_torch_save

    state = state or TrainState()
    if state.learner is not None:
        learner.load_state_dict(state.learner)
    for epoch in range(state.epoch, epochs):
        tr_loss, tr_acc = [], []
        for b in range(batches_per_epoch):
            res = learner.meta_step(train.batch(epoch * batches_per_epoch + b, meta_batch))
            if not np.isfinite(res.losses).all():
                raise Diverged("the meta-training loss", f"epoch {epoch + 1}, meta-batch {b + 1}",
                               "lower the meta learning rate `meta_lr` or the scales")
            tr_loss.append(res.losses.mean())
            tr_acc.append(res.accuracies.mean())
            if progress is not None:
                progress("batch", {"loss": float(res.losses.mean()), "acc": float(res.accuracies.mean())})
        val_res = evaluate(learner, val, batches=val_batches, meta_batch=meta_batch, steps=val_steps)
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(tr_loss)),
            "train_acc": float(np.mean(tr_acc)),
            "val_loss": float(val_res.losses.mean()),
            "val_acc": float(val_res.accuracies.mean()),
        }
        state.history.append(row)
        state.epoch = epoch + 1
        state.learner = learner.state_dict()
        if row["val_acc"] > state.best_val:
            state.best_val, state.best_epoch, state.best = row["val_acc"], epoch + 1, learner.state_dict()
        if checkpoint is not None:
            atomic_torch_save(state.__dict__, checkpoint)
        if progress is not None:
            progress("epoch", row)
    return state


def load_train_state(path: Path, fix: str = "delete it to restart the training, or pass `overwrite=True`") -> TrainState:
    """Read a checkpoint written by :func:`meta_train` (a damaged one is a one-line error ending in ``fix``)."""
    from infwidth.runs import load_torch

    state = load_torch(path, fix, keys=("epoch", "learner", "best"))
    try:
        return TrainState(**state)
    except TypeError:
        raise UserError(f"{path} is not a maml training checkpoint (unexpected fields); {fix}") from None


def mean_ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(1.96 * values.std(ddof=1) / np.sqrt(values.size))
