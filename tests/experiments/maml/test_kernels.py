"""Function-space (GP/NTK) first-order MAML against brute force and against parameter space."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from infwidth.errors import UserError
from infwidth.experiments.maml.fomaml import ParamMAML
from infwidth.experiments.maml.kernels import KernelMAML, make_kernel
from infwidth.experiments.maml.tasks import TaskSampler

SU, SV, SB = 0.3, 1.3, 0.7


def relu_entry(x, y, ntk):
    """One entry of the 1-hidden-layer ReLU NNGP/NTK (paper convention), by the arc-cosine formula."""
    q11, q22, q12 = SU**2 * x @ x + SB**2, SU**2 * y @ y + SB**2, SU**2 * x @ y + SB**2
    theta = math.acos(max(-1.0, min(1.0, q12 / math.sqrt(q11 * q22))))
    nngp = SV**2 * math.sqrt(q11 * q22) / (2 * math.pi) * (math.sin(theta) + (math.pi - theta) * math.cos(theta))
    return nngp + (SV**2 * (math.pi - theta) / (2 * math.pi) * q12 if ntk else 0.0)


def softmax_grad(f, y, n):
    p = np.exp(f - f.max())
    p /= p.sum()
    p[y] -= 1.0
    return p / n


def brute_adapt(k, centres, coeffs, sx, sy, qx, lr, steps):
    """Adapted query logits of one task, one kernel entry at a time."""
    f0 = [lambda x: sum((k(x, c) * a for c, a in zip(centres, coeffs, strict=True)), np.zeros(3))][0]
    f_s, f_q = [f0(x) for x in sx], [f0(x) for x in qx]
    for _ in range(steps):
        g = [softmax_grad(f, y, len(sx)) for f, y in zip(f_s, sy, strict=True)]
        f_s = [f - lr * sum(k(x, xs) * gj for xs, gj in zip(sx, g, strict=True)) for f, x in zip(f_s, sx, strict=True)]
        f_q = [f - lr * sum(k(x, xs) * gj for xs, gj in zip(sx, g, strict=True)) for f, x in zip(f_q, qx, strict=True)]
    return np.array(f_q)


@pytest.mark.parametrize("ntk", [False, True])
def test_function_space_maml_equals_brute_force(synthetic_classes, ntk):
    classes = synthetic_classes(num_classes=6, examples=4)
    sampler = TaskSampler(classes, ways=3, shots=1, queries=2, seed=4, dtype=torch.float64)
    kernel = make_kernel("ntk-relu" if ntk else "gp-relu", sigma_u=SU, sigma_v=SV, sigma_b=SB)
    learner = KernelMAML(kernel, sampler.pool, 3, step_size=0.4, steps=2, meta_lr=0.7, clip=0.05)
    k = lambda a, b: relu_entry(a, b, ntk)  # noqa: E731
    centres, coeffs = [], []
    for i in range(3):
        batch = sampler.batch(i, 2)
        learner.meta_step(batch)
        xs, gs = [], []
        for t in range(2):
            sx, qx = batch.support_x[t].numpy(), batch.query_x[t].numpy()
            f_q = brute_adapt(k, centres, coeffs, sx, batch.support_y[t].numpy(), qx, 0.4, 2)
            xs += list(qx)
            gs += [softmax_grad(f, y, len(qx)) for f, y in zip(f_q, batch.query_y[t].numpy(), strict=True)]
        norm = math.sqrt(sum(k(a, b) * (ga @ gb) for a, ga in zip(xs, gs, strict=True) for b, gb in zip(xs, gs, strict=True)))
        ratio = min(1.0, 0.05 / (norm + 1e-6))
        centres += xs
        coeffs += [-0.7 * ratio * g for g in gs]
    test = sampler.batch(10, 2)
    got, _ = learner.adapt(test, 3)
    for t in range(2):
        want = brute_adapt(k, centres, coeffs, test.support_x[t].numpy(), test.support_y[t].numpy(),
                           test.query_x[t].numpy(), 0.4, 3)
        np.testing.assert_allclose(got[t].numpy(), want, rtol=1e-9, atol=1e-12)
    assert np.abs(np.array(coeffs)).max() > 0  # the meta-steps really moved f0


def test_function_space_equals_parameter_space_for_a_model_linear_in_its_parameters(synthetic_classes):
    """f(x) = W phi(x) with W_0 = 0 trained by FOMAML == kernel FOMAML with K = phi phi^T (clip included)."""
    classes = synthetic_classes(num_classes=8, examples=4)
    sampler = TaskSampler(classes, ways=4, shots=1, queries=2, seed=9, dtype=torch.float64)
    proj = torch.randn(784, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64) / 10

    def phi(x):
        return torch.tanh(x @ proj)

    class Readout(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4, 40, dtype=torch.float64))

        def forward(self, x):
            return phi(x) @ self.w.T

    model = Readout()
    param = ParamMAML(model, step_size=0.4, steps=2, meta_lr=0.5, clip=0.3)
    func = KernelMAML(lambda a, b: phi(a) @ phi(b).T, sampler.pool, 4, step_size=0.4, steps=2, meta_lr=0.5, clip=0.3)
    for i in range(4):
        batch = sampler.batch(i, 3)
        r1, r2 = param.meta_step(batch), func.meta_step(batch)
        np.testing.assert_allclose(r1.losses, r2.losses, rtol=1e-9)
    test = sampler.batch(20, 3)
    np.testing.assert_allclose(param.evaluate(test, 3).losses, func.evaluate(test, 3).losses, rtol=1e-9)
    x = sampler.pool[:7]
    torch.testing.assert_close(model(x), func.f0(x), rtol=1e-9, atol=1e-12)


def test_kernel_checks():
    with pytest.raises(UserError, match="unknown kernel"):
        make_kernel("gp-tanh")
    learner = KernelMAML(make_kernel("gp-linear", d=4), torch.zeros(3, 4), 2, step_size=0.4, steps=1, meta_lr=0.0,
                         clip=None)
    with pytest.raises(UserError, match="coefficients"):
        learner.load_state_dict({"coeffs": torch.zeros(5, 2)})
