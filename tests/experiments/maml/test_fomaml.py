"""First-order MAML: the inner step, the summed/clipped meta-gradient, limit vs wide nets, resume, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infwidth.experiments.maml.fomaml import (
    ParamMAML,
    TrainState,
    evaluate,
    load_train_state,
    mean_ci95,
    meta_train,
)
from infwidth.experiments.maml.models import build_model, preset_for
from infwidth.experiments.maml.tasks import TaskSampler


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = nn.Parameter(torch.randn(6, 784, generator=g, dtype=torch.float64) / 28)
        self.w2 = nn.Parameter(torch.randn(5, 6, generator=g, dtype=torch.float64) / 3)

    def forward(self, x):
        return torch.tanh(x @ self.w1.T) @ self.w2.T


def manual_meta_grad(model, batch, lr, steps):
    """Reference: copy the net per task, SGD it by hand, sum the query gradients at the adapted weights."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    for t in range(batch.num_tasks):
        fast = [p.detach().clone() for p in model.parameters()]
        for _ in range(steps):
            fast = [f.requires_grad_() for f in fast]
            m = TwoLayer()
            loss = F.cross_entropy(torch.tanh(batch.support_x[t].double() @ fast[0].T) @ fast[1].T, batch.support_y[t])
            gs = torch.autograd.grad(loss, fast)
            fast = [(f - lr * g).detach() for f, g in zip(fast, gs, strict=True)]
            del m
        fast = [f.requires_grad_() for f in fast]
        loss = F.cross_entropy(torch.tanh(batch.query_x[t].double() @ fast[0].T) @ fast[1].T, batch.query_y[t])
        for acc, g in zip(total, torch.autograd.grad(loss, fast), strict=True):
            acc += g
    return total


@pytest.mark.parametrize("clip", [None, 1e-3])
def test_meta_step_is_summed_first_order_gradient_with_clipping(synthetic_classes, clip):
    batch = TaskSampler(synthetic_classes(), ways=5, shots=1, queries=2, seed=1).batch(0, 4)
    model = TwoLayer()
    before = [p.detach().clone() for p in model.parameters()]
    grads = manual_meta_grad(model, batch, lr=0.4, steps=2)
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    scale = 1.0 if clip is None else min(1.0, clip / float(norm))
    ParamMAML(model, step_size=0.4, steps=2, meta_lr=0.3, clip=clip).meta_step(batch)
    for p, b, g in zip(model.parameters(), before, grads, strict=True):
        torch.testing.assert_close(p.detach(), b - 0.3 * scale * g, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_limit_and_wide_sampled_net_agree_after_meta_training(synthetic_classes):
    """Same tasks, same SGD: the adapted width-n net sampled from the limit tracks the adapted limit,
    with a gap shrinking like sqrt(789 / n) (16x wider -> about 4x closer)."""
    from torch.func import functional_call

    from infwidth.experiments.maml.fomaml import adapt

    sampler = TaskSampler(synthetic_classes(), ways=5, shots=1, queries=1, seed=2)
    p = preset_for(None)
    limit = build_model(None, sigma_u=p.sigma_u, sigma_v=p.sigma_v, alpha=p.alpha, dtype=torch.float64)
    nets = {n: limit.sample(n, seed=3) for n in (512, 8192)}
    learners = [ParamMAML(m, step_size=0.4, steps=1, meta_lr=p.meta_lr, clip=0.5) for m in (limit, *nets.values())]
    for i in range(2):
        batch = sampler.batch(i, 4)
        for learner in learners:
            learner.meta_step(batch)
    task = sampler.batch(50, 1)
    x = sampler.batch(99, 2).query_x.reshape(-1, 784).double()

    def adapted(m):
        fast = adapt(m, dict(m.named_parameters()), task.support_x[0].double(), task.support_y[0], 0.4, 1)
        return functional_call(m, fast, (x,))

    ref = adapted(limit)
    err = {n: float((adapted(m) - ref).norm() / ref.norm()) for n, m in nets.items()}
    assert err[8192] < 0.12
    assert err[8192] < err[512] / 2.5


def test_resume_is_exact(tmp_path, synthetic_classes):
    classes = synthetic_classes()
    train, val = TaskSampler(classes, 5, 1, 1, seed=1), TaskSampler(classes, 5, 1, 1, seed=2)

    def learner():
        return ParamMAML(TwoLayer(), step_size=0.4, steps=1, meta_lr=0.2, clip=0.5)

    kw = dict(batches_per_epoch=3, meta_batch=4, val_batches=2, val_steps=1)
    straight = meta_train(learner(), train, val, epochs=3, **kw)
    ckpt = tmp_path / "ckpt.pt"
    meta_train(learner(), train, val, epochs=1, checkpoint=ckpt, **kw)
    resumed = meta_train(learner(), train, val, epochs=3, checkpoint=ckpt, state=load_train_state(ckpt), **kw)
    assert resumed.epoch == 3 and straight.history == resumed.history
    for k in straight.learner:
        assert torch.equal(straight.learner[k], resumed.learner[k])
    assert isinstance(straight, TrainState) and straight.best_epoch >= 1


def test_short_training_beats_chance_on_held_out_classes(synthetic_classes):
    classes = synthetic_classes(num_classes=30, examples=6, seed=5)
    train_c, test_c = classes.subset(range(20)), classes.subset(range(20, 30))
    p = preset_for(None)
    limit = build_model(None, sigma_u=p.sigma_u, sigma_v=p.sigma_v, alpha=p.alpha, dtype=torch.float32)
    learner = ParamMAML(limit, step_size=0.4, steps=1, meta_lr=p.meta_lr, clip=0.5)
    train = TaskSampler(train_c, 5, 1, 1, seed=1)
    meta_train(learner, train, TaskSampler(train_c, 5, 1, 1, seed=2), epochs=2, batches_per_epoch=3, meta_batch=4,
               val_batches=1, val_steps=1)
    res = evaluate(learner, TaskSampler(test_c, 5, 1, 1, seed=3), batches=2, meta_batch=20, steps=1)
    mean, ci = mean_ci95(res.accuracies)
    assert mean - ci > 0.2 + 0.2  # chance is 1/5


def test_mean_ci95():
    mean, ci = mean_ci95(np.array([0.0, 1.0] * 50))
    assert mean == 0.5 and ci == pytest.approx(1.96 * np.std([0.0, 1.0] * 50, ddof=1) / 10)


@pytest.mark.slow
def test_simulated_width_equals_sampled_width_under_fomaml(synthetic_classes):
    """The exact width-789 stand-in (--simulate) follows the sampled width-n net through meta-training."""
    sampler = TaskSampler(synthetic_classes(), ways=5, shots=1, queries=1, seed=4, dtype=torch.float64)
    p = preset_for(2048)
    kw = dict(sigma_u=p.sigma_u, sigma_v=p.sigma_v, alpha=p.alpha, dtype=torch.float64, seed=1)
    nets = [build_model(2048, **kw), build_model(2048, simulate=True, **kw)]
    assert sum(q.numel() for q in nets[1].parameters()) < sum(q.numel() for q in nets[0].parameters())
    learners = [ParamMAML(m, step_size=0.4, steps=1, meta_lr=p.meta_lr, clip=0.05) for m in nets]
    for i in range(3):
        res = [learner.meta_step(sampler.batch(i, 3)) for learner in learners]
        np.testing.assert_allclose(res[0].losses, res[1].losses, rtol=1e-8)
    test = sampler.batch(9, 4)
    np.testing.assert_allclose(learners[0].evaluate(test, 2).losses, learners[1].evaluate(test, 2).losses, rtol=1e-8)
