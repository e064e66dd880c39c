"""The Master-Theorem limit of a program: exact, quadrature and Monte Carlo numerics against closed forms."""

import math
import re

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.tensor_programs import Program, estimate_memory, run_finite, solve_limit

SIGMA, S_U = 1.3, 0.8


def _gauss(fn, var: float) -> float:
    """E fn(Z), Z ~ N(0, var), by 200-point Gauss-Hermite (independent of the engine)."""
    z, w = np.polynomial.hermite_e.hermegauss(200)
    return float((w * fn(math.sqrt(var) * z)).sum() / w.sum())


def _forward_backward(phi=None, linear: bool = False) -> Program:
    """``g = W^T phi(W u)``: Zdot^{W^T x} = sigma^2 Z^u E[phi'(Zhat^{Wu})]."""
    p = Program("forward-backward")
    w = p.matrix("W", sigma=SIGMA)
    u = p.vector("u", S_U**2)
    h = w @ u
    x = p.lincomb([(1.0, h)], name="x") if linear else p.nonlin(phi, h, name="x")
    g = w.T @ x
    p.output(p.inner(g, u, name="gu"), p.inner(g, g, name="gg"))
    return p


def test_exact_algebra_for_linear_programs():
    res = solve_limit(_forward_backward(linear=True))
    assert res.method == "exact" and res.se["gu"] == 0.0
    s2, su2 = SIGMA**2, S_U**2
    assert res["gu"] == pytest.approx(s2 * su2, abs=1e-12)
    assert res["gg"] == pytest.approx(2 * s2 * s2 * su2, abs=1e-12)


def test_quadrature_and_monte_carlo_match_the_closed_form():
    s2, var_h = SIGMA**2, SIGMA**2 * S_U**2
    e_dphi = _gauss(lambda z: 1 - np.tanh(z) ** 2, var_h)
    e_phi2 = _gauss(lambda z: np.tanh(z) ** 2, var_h)
    want = {"gu": s2 * S_U**2 * e_dphi, "gg": s2 * e_phi2 + s2 * s2 * S_U**2 * e_dphi**2}
    prog = _forward_backward(torch.tanh)
    quad = solve_limit(prog)  # 3 Gaussian dims: auto picks quadrature
    assert quad.method == "quadrature"
    for k, v in want.items():
        assert quad[k] == pytest.approx(v, rel=1e-6)
    for derivatives in ("autograd", "stein"):
        mc = solve_limit(prog, method="mc", particles=2**14, replicas=8, seed=1, derivatives=derivatives)
        for k, v in want.items():
            assert 0 < mc.se[k] < 0.02 * abs(v)
            assert abs(mc[k] - v) < 4.5 * mc.se[k] + 1e-12, (derivatives, k, mc[k], v, mc.se[k])


def _two_matrices() -> Program:
    """A longer program: two matrices, forward-backward-forward, a nonlinear Moment fed back."""
    p = Program("chain")
    a, b = p.matrix("A", 1.0), p.matrix("B", 0.9)
    u, v = p.vectors(["u", "v"], [[1.0, 0.2], [0.2, 0.5]])
    x = p.nonlin(torch.tanh, a @ u, name="x")
    c = p.moment(lambda s, t: torch.sin(s) * t, x, v, name="c")
    y = p.nonlin(lambda g, cc: torch.relu(g) + cc * g, a.T @ x, c, name="y")
    z = b @ y
    w2 = p.nonlin(lambda q, r: torch.tanh(q) * r, z, x, name="w2")
    out = a @ (b.T @ w2)
    p.output(p.inner(out, u, name="o1"), p.moment(lambda s: s * s, out, name="o2"), c)
    return p


def test_finite_width_programs_approach_the_monte_carlo_limit():
    prog = _two_matrices()
    lim = solve_limit(prog, method="mc", particles=2**15, replicas=8)
    n, seeds = 2000, 6
    runs = [run_finite(prog, n, seed=s) for s in range(seeds)]
    for k in ("o1", "o2", "c"):
        finite = np.array([r[k] for r in runs])
        # finite-n mean: O(1/n) bias, O(n^-1/2) spread; plus the limit's own MC error
        tol = 4 * (finite.std() / math.sqrt(seeds) + lim.se[k]) + 0.5 / n
        assert abs(finite.mean() - lim[k]) < tol, (k, finite.mean(), lim[k], tol)


def test_monte_carlo_standard_error_falls_like_m_to_the_minus_half():
    prog = _forward_backward(torch.tanh)
    ms = [2**10, 2**12, 2**14]
    ses = [np.mean([solve_limit(prog, method="mc", particles=m, replicas=16, seed=s).max_se() for s in range(3)])
           for m in ms]
    slope = np.polyfit(np.log(ms), np.log(ses), 1)[0]
    assert -0.65 < slope < -0.35, (slope, ses)


def test_target_error_grows_m_until_it_is_met():
    prog = _forward_backward(torch.tanh)
    res = solve_limit(prog, method="mc", particles=256, replicas=8, target_se=2e-3)
    assert res.particles > 256
    assert res.max_se() < 2e-3 * 1.6


def test_memory_is_estimated_first_and_a_run_that_does_not_fit_names_the_m_that_does():
    prog = _two_matrices()
    budget = estimate_memory(prog, 2**12 // 8, 8, graph=True)
    msg = str(pytest.raises(UserError, solve_limit, prog, method="mc", particles=2**14, memory_limit=budget).value)
    fit = int(re.search(r"particles <= (\d+)", msg).group(1))
    assert 2**11 <= fit <= 2**12 and "\n" not in msg
    assert solve_limit(prog, method="mc", particles=fit, memory_limit=budget).particles == fit


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"particles": 0}, "particles"), ({"replicas": 1, "method": "mc"}, "replicas >= 2"),
    ({"method": "magic"}, "unknown method"), ({"method": "exact"}, "needs linear Nonlins"),
    ({"target_se": -1.0}, "target_se"), ({"derivatives": "guess"}, "derivatives"),
    ({"method": "mc", "particles": 4, "replicas": 8}, "too few"),
])
def test_bad_solver_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        solve_limit(_forward_backward(torch.tanh), **kwargs)


def _waves() -> Program:
    """Two inputs through forward, backward and an update, written wave by wave (so that the grouped
    execution draws its Gaussians in program order): grouped MatMuls of both sides of ``W``, a Nonlin
    applied to two vectors at once, bilinear Moments, linear combinations with scalar coefficients."""
    p = Program("waves")
    w = p.matrix("W", sigma=1.1)
    a, v = p.vectors(["a", "v"], [[1.0, 0.3], [0.3, 1.0]])
    xs = [p.nonlin(torch.tanh, a), p.nonlin(torch.tanh, p.lincomb([(0.5, a), (1.0, v)]))]
    hs = [w @ x for x in xs]
    ys = [p.nonlin(torch.tanh, h) for h in hs]
    chis = [p.nonlin(lambda m: m - 1.0, p.inner(y, v)) for y in ys]
    gs = [p.nonlin(lambda h, d: (1 - torch.tanh(h) ** 2) * d, h, p.lincomb([(c, v)])) for h, c in zip(hs, chis, strict=True)]
    bs = [w.T @ g for g in gs]
    new = [p.nonlin(torch.tanh, p.lincomb([(1.0, x), (-0.5, b)])) for x, b in zip(xs, bs, strict=True)]
    out = [w @ x for x in new]
    p.output(*[p.inner(o, v) for o in out], *[p.inner(o, o) for o in out], p.inner(bs[0], bs[1]))
    return p


@pytest.mark.parametrize("method", ["quadrature", "mc"])
def test_grouped_execution_equals_one_instruction_at_a_time(method, monkeypatch):
    # The solver runs each wave of independent instructions as one torch call (grouped MatMuls, Nonlins,
    # linear combinations and bilinear Moments). With the program written wave by wave both executions draw
    # the same Gaussians in the same order, so they must agree to float rounding.
    import infwidth.tensor_programs.limit as lim

    runs = []  # which schedule really ran: a spy on the grouped executor
    grouped_run = lim._run_grouped
    monkeypatch.setattr(lim, "_run_grouped", lambda *a, **k: runs.append("waves") or grouped_run(*a, **k))
    prog = _waves()
    kw = {"order": 4} if method == "quadrature" else {"particles": 2**12, "replicas": 4, "seed": 3}
    grouped = solve_limit(prog, method=method, **kw)
    reference = solve_limit(prog, method=method, schedule="sequential", **kw)
    assert runs == ["waves"]
    assert grouped.dims == reference.dims == 8
    for k in prog.outputs:
        assert abs(grouped[k]) > 1e-3
        assert grouped[k] == pytest.approx(reference[k], rel=1e-10, abs=1e-12), k


def test_an_unknown_schedule_is_a_one_line_error():
    with pytest.raises(UserError, match="`schedule` 'parallel'"):
        solve_limit(_waves(), method="mc", particles=64, replicas=2, schedule="parallel")


def test_a_bilinear_mark_is_checked():
    p = Program("bilinear")
    u, v = p.vectors(["u", "v"], [[1.0, 0.0], [0.0, 1.0]])

    def not_product(a, b):
        return a * b + 1.0

    not_product.bilinear = 1.0
    with pytest.raises(UserError, match="marked bilinear"):
        p.moment(not_product, u, v)
