"""Closed-form kernels against quadrature and an independent brute-force recursion; structure checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from infwidth.limits.kernels import Quadrature, get_nonlinearity, mlp_kernels

SMOOTH = ["erf", "gelu", "sin", "identity", "tanh"]
ALL = ["relu", "erf", "gelu", "sin", "identity", "leaky_relu:0.2", "tanh"]


def _inputs(n: int, d: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", SMOOTH)
def test_closed_form_matches_fine_quadrature(name: str) -> None:
    """Closed forms (and tanh's default 60-point rule) equal a 200-point rule to near machine precision."""
    piece = get_nonlinearity(name)
    fine = Quadrature(piece.phi, dphi=piece.dphi, points=200)
    x, y = _inputs(6), _inputs(4, seed=1)
    a = mlp_kernels(x, y, depth=3, nonlinearity=name, w_std=1.3, b_std=0.2)
    b = mlp_kernels(x, y, depth=3, nonlinearity=fine, w_std=1.3, b_std=0.2)
    tol = 1e-6 if name == "tanh" else 1e-11  # tanh: the default 100-point rule's stated accuracy
    assert torch.allclose(a.nngp, b.nngp, atol=tol, rtol=0)
    assert torch.allclose(a.ntk, b.ntk, atol=10 * tol, rtol=0)


def _brute_pair(phi, k11: float, k12: float, k22: float) -> float:  # noqa: ANN001
    """E[phi(u) phi(v)] by adaptive 2-D integration over the four quadrants (independent of the library)."""
    if abs(k11 * k22 - k12 * k12) < 1e-12 * k11 * k22:  # u = v: a 1-D integral
        s = math.sqrt(k11)
        f = lambda z: phi(s * z) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
        return integrate.quad(f, -12, 0, epsabs=1e-12)[0] + integrate.quad(f, 0, 12, epsabs=1e-12)[0]
    cov = np.array([[k11, k12], [k12, k22]])
    det = np.linalg.det(cov)
    inv = np.linalg.inv(cov)

    def dens(v: float, u: float) -> float:
        q = inv[0, 0] * u * u + 2 * inv[0, 1] * u * v + inv[1, 1] * v * v
        return phi(u) * phi(v) * math.exp(-0.5 * q) / (2 * math.pi * math.sqrt(det))

    lim = 12 * math.sqrt(max(k11, k22))
    total = 0.0
    for ua, ub in ((-lim, 0.0), (0.0, lim)):
        for va, vb in ((-lim, 0.0), (0.0, lim)):
            total += integrate.dblquad(dens, ua, ub, va, vb, epsabs=1e-11, epsrel=1e-10)[0]
    return total


def _brute_kernels(x: np.ndarray, y: np.ndarray, depth: int, phi, dphi, w: float, b: float):  # noqa: ANN001
    """The NNGP/NTK recursion (docs/kernels.md) entry by entry, with scipy integration: NNGP and NTK."""
    d = x.shape[1]
    out_n = np.zeros((len(x), len(y)))
    out_t = np.zeros_like(out_n)
    for i, xi in enumerate(x):
        for j, yj in enumerate(y):
            k11 = w * w * xi @ xi / d + b * b
            k22 = w * w * yj @ yj / d + b * b
            k12 = w * w * xi @ yj / d + b * b
            t12 = k12
            for _ in range(depth):
                e12 = _brute_pair(phi, k11, k12, k22)
                ed = _brute_pair(dphi, k11, k12, k22)
                n11 = w * w * _brute_pair(phi, k11, k11, k11) + b * b
                n22 = w * w * _brute_pair(phi, k22, k22, k22) + b * b
                k12, t12 = w * w * e12 + b * b, w * w * e12 + b * b + w * w * ed * t12
                k11, k22 = n11, n22
            out_n[i, j], out_t[i, j] = k12, t12
    return out_n, out_t


@pytest.mark.parametrize(
    "name, phi, dphi",
    [
        ("relu", lambda u: max(u, 0.0), lambda u: float(u > 0)),
        ("leaky_relu:0.2", lambda u: u if u > 0 else 0.2 * u, lambda u: 1.0 if u > 0 else 0.2),
        ("erf", math.erf, lambda u: 2 / math.sqrt(math.pi) * math.exp(-u * u)),
    ],
)
def test_depth_recursion_against_brute_force(name: str, phi, dphi) -> None:  # noqa: ANN001
    x, y = _inputs(2, d=3).numpy(), _inputs(2, d=3, seed=2).numpy()
    ref_n, ref_t = _brute_kernels(x, y, 2, phi, dphi, w=1.2, b=0.3)
    k = mlp_kernels(x, y, depth=2, nonlinearity=name, w_std=1.2, b_std=0.3)
    np.testing.assert_allclose(k.nngp.numpy(), ref_n, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(k.ntk.numpy(), ref_t, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_symmetric_psd_and_tiling(name: str) -> None:
    x = _inputs(6 if name == "tanh" else 23)  # tanh's quadrature is 10^4 evaluations per entry
    full = mlp_kernels(x, depth=3, nonlinearity=name, w_std=1.4, b_std=0.1)
    tiled = mlp_kernels(x, depth=3, nonlinearity=name, w_std=1.4, b_std=0.1, tile=4)
    cross = mlp_kernels(x, x.clone(), depth=3, nonlinearity=name, w_std=1.4, b_std=0.1, tile=5)
    for mat in (full.nngp, full.ntk):
        assert torch.equal(mat, mat.T)
        evals = torch.linalg.eigvalsh(mat)
        assert evals.min() > -1e-10 * evals.max()
    # tanh: the quadrature is not exactly symmetric in (u, v); orientation changes it by its accuracy
    rtol, atol = (0, 2e-5) if name == "tanh" else (1e-10, 1e-12)
    torch.testing.assert_close(tiled.nngp, full.nngp, rtol=rtol, atol=atol)
    # x2 given explicitly: the diagonal is not pinned, k12 vs k11 may differ by rounding (relu: ~1e-8 rel)
    torch.testing.assert_close(cross.ntk, full.ntk, rtol=1e-7, atol=max(atol, 1e-10))


def test_relu_closed_form_values() -> None:
    """One hidden relu layer, unit inputs at 90 degrees: rho = 0 gives K = 1/(2 pi), E' = 1/4."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64) * math.sqrt(2)
    k = mlp_kernels(x, depth=1, nonlinearity="relu")
    assert k.nngp[0, 1].item() == pytest.approx(1 / (2 * math.pi), rel=1e-14)
    assert k.nngp[0, 0].item() == pytest.approx(0.5, rel=1e-14)
    # NTK = K^2 + E'[..] K^1 = 1/(2 pi) + 1/4 * 0 off-diagonal; diagonal 1/2 + 1/2 * 1
    assert k.ntk[0, 1].item() == pytest.approx(1 / (2 * math.pi), rel=1e-14)
    assert k.ntk[0, 0].item() == pytest.approx(1.0, rel=1e-14)


def test_relu_homogeneity() -> None:
    """Without biases a relu net is positively homogeneous: kernels scale like c^2."""
    x = _inputs(8)
    a = mlp_kernels(x, depth=4, nonlinearity="relu", w_std=1.5)
    b = mlp_kernels(3.0 * x, depth=4, nonlinearity="relu", w_std=1.5)
    torch.testing.assert_close(b.nngp, 9.0 * a.nngp, rtol=1e-12, atol=0)
    torch.testing.assert_close(b.ntk, 9.0 * a.ntk, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["relu", "erf", "tanh"])
def test_partial_ntk_terms_add_up(name: str) -> None:
    x, y = _inputs(5), _inputs(6, seed=3)
    depth = 3
    kw = dict(depth=depth, nonlinearity=name, w_std=1.1, b_std=0.4, quadrature_points=40)
    full = mlp_kernels(x, y, **kw)
    parts = [mlp_kernels(x, y, layers={k}, **kw).ntk for k in range(1, depth + 2)]
    torch.testing.assert_close(sum(parts), full.ntk, rtol=1e-12, atol=1e-12)
    # the readout's term alone is the NNGP (training only the readout: random features)
    torch.testing.assert_close(parts[-1], full.nngp, rtol=1e-12, atol=1e-12)
    weighted = mlp_kernels(x, y, layers={2: 3.0, 4: 0.5}, **kw).ntk
    torch.testing.assert_close(weighted, 3.0 * parts[1] + 0.5 * parts[3], rtol=1e-12, atol=1e-12)


def test_float32_close_to_float64() -> None:
    x = _inputs(30, d=20)
    for name in ("relu", "erf"):
        a = mlp_kernels(x, depth=3, nonlinearity=name, w_std=1.4, b_std=0.1)
        b = mlp_kernels(x, depth=3, nonlinearity=name, w_std=1.4, b_std=0.1, dtype=torch.float32)
        assert b.ntk.dtype == torch.float32
        rel = torch.linalg.norm(b.ntk.double() - a.ntk) / torch.linalg.norm(a.ntk)
        assert rel < 1e-4


def test_per_layer_stds_and_readout() -> None:
    """A list of stds equals the scalar form; the readout std scales the readout's kernel."""
    x = _inputs(6)
    a = mlp_kernels(x, depth=2, nonlinearity="erf", w_std=[1.0, 1.0], b_std=0.1, out_w_std=2.0)
    b = mlp_kernels(x, depth=2, nonlinearity="erf", w_std=[1.0, 1.0, 2.0], b_std=[0.1, 0.1, 0.1])
    c = mlp_kernels(x, depth=2, nonlinearity="erf", w_std=1.0, b_std=0.1, out_w_std=1.0, out_b_std=0.0)
    torch.testing.assert_close(a.nngp, b.nngp)
    torch.testing.assert_close(a.ntk, b.ntk)
    # with no readout bias the NNGP is linear in out_w_std^2
    d = mlp_kernels(x, depth=2, nonlinearity="erf", w_std=1.0, b_std=0.1, out_w_std=3.0, out_b_std=0.0)
    torch.testing.assert_close(d.nngp, 9.0 * c.nngp)
