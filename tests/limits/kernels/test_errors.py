"""Bad input to the kernel API: one-line UserErrors, never a silent NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.limits.kernels import mlp_kernels

X = np.random.default_rng(0).normal(size=(4, 3))


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(x2=np.ones((2, 5))), "same input dimension"),
        (dict(x1=np.array([[1.0, np.nan, 0.0]])), "NaN or infinite"),
        (dict(x1=np.ones(3)), "2-D"),
        (dict(nonlinearity="softplus"), "unknown nonlinearity"),
        (dict(nonlinearity="leaky_relu:abc"), "leaky_relu"),
        (dict(w_std=-1.0), "cannot be negative"),
        (dict(b_std=float("inf")), "b_std"),
        (dict(out_w_std=-0.5), "out_w_std"),
        (dict(w_std=[1.0, 1.0, 1.0, 1.0, 1.0]), "entries for depth"),
        (dict(depth=-1), "depth"),
        (dict(depth=1.5), "depth"),
        (dict(layers={0}), "1-based"),
        (dict(nonlinearity=lambda u: torch.exp(u * u)), "not square-integrable"),
        (dict(nonlinearity=lambda u: 1.0 / u), "not square-integrable"),
        (dict(nonlinearity=lambda u: u.numpy()), "elementwise torch function"),
        (dict(nonlinearity="identity", w_std=1e20, depth=30, dtype=torch.float32), "overflowed"),
    ],
)
def test_bad_input_is_a_one_line_user_error(kwargs: dict, needle: str) -> None:
    args = {"x1": X, "depth": 2, "nonlinearity": "relu"}
    args.update(kwargs)
    x1 = args.pop("x1")
    with pytest.raises(UserError) as info:
        mlp_kernels(x1, **args)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_a_square_integrable_callable_is_accepted() -> None:
    k = mlp_kernels(X, depth=2, nonlinearity=lambda u: torch.sigmoid(u), quadrature_points=40)
    assert bool(torch.isfinite(k.ntk).all())


def test_too_coarse_quadrature_names_an_order_that_works() -> None:
    """A coarse rule on a smooth function is 'too coarse' (with an order that converges at that layer's
    variance), not 'not square-integrable'; following the advice layer by layer ends in finite kernels."""
    import re

    x = torch.randn(4, 3, dtype=torch.float64)

    def fn(u):
        return torch.cos(3 * u)

    points, seen = 4, []
    for _ in range(6):
        try:
            k = mlp_kernels(x, depth=2, nonlinearity=fn, w_std=2.0, quadrature_points=points)
            break
        except UserError as exc:
            msg = str(exc)
            assert "too coarse" in msg and "square-integrable" not in msg, msg
            suggested = int(re.search(r"quadrature_points=(\d+)", msg).group(1))
            assert suggested > points
            points = suggested
            seen.append(points)
    else:
        raise AssertionError(f"the suggested orders {seen} never converged")
    assert seen, "the 4-point rule should have been refused as too coarse"
    assert torch.isfinite(k.nngp).all() and torch.isfinite(k.ntk).all()
