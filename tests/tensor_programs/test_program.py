"""Programs as data: the builder, the listing, validation, and the finite-width execution."""

import math

import pytest
import torch

from infwidth.errors import UserError
from infwidth.tensor_programs import MatMul, Matrix, Nonlin, Program, run_finite


def _small() -> Program:
    p = Program("small")
    w = p.matrix("W", sigma=1.5)
    u, v = p.vectors(["u", "v"], [[1.0, 0.3], [0.3, 2.0]])
    h = p.matmul(w, u, name="h")
    x = p.nonlin(torch.tanh, h, name="x")
    g = p.matmul(w, x, name="g", transpose=True)
    p.output(p.inner(g, v, name="gv"), p.moment(lambda a: a * a, x, name="xx"))
    return p


def test_builder_reads_like_the_math_and_lists_the_program():
    p = _small()
    q = Program("same, with operators")
    w = q.matrix("W", sigma=1.5)
    u, v = q.vectors(["u", "v"], [[1.0, 0.3], [0.3, 2.0]])
    x = q.nonlin(torch.tanh, w @ u, name="x")
    q.inner(w.T @ x, v, name="gv")
    assert [type(i).__name__ for i in q.instructions] == ["Matrix", "InitVectors", "MatMul", "Nonlin", "MatMul", "Moment"]
    assert q.instructions[4].transpose and not q.instructions[2].transpose
    text = str(p)
    assert "g = W^T x" in text and "h = W u" in text and "-> output" in text
    assert p.counts() == {"Matrix": 1, "InitVectors": 2, "MatMul": 2, "Nonlin": 1, "Moment": 2}
    assert not p.all_linear


def test_finite_execution_is_the_plain_torch_computation():
    p, n = _small(), 300
    w = torch.randn(n, n, dtype=torch.float64) / math.sqrt(n)
    u, v = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    run = run_finite(p, n, init={"W": w, "u": u, "v": v})
    g = w.T @ torch.tanh(w @ u)
    assert run["gv"] == pytest.approx(float((g * v).mean()), rel=1e-12)
    assert run["xx"] == pytest.approx(float((torch.tanh(w @ u) ** 2).mean()), rel=1e-12)
    # sampling: seeded, float32 works, the initial law is the declared one
    a, b = run_finite(p, n, seed=3), run_finite(p, n, seed=3)
    assert a.scalars == b.scalars
    assert run_finite(p, n, seed=3, dtype=torch.float32).scalars["gv"].dtype == torch.float32
    q = Program()
    u, v = q.vectors(["u", "v"], [[1.0, 0.3], [0.3, 2.0]])
    q.inner(u, v, name="uv")
    q.inner(v, v, name="vv")
    big = run_finite(q, 200_000, seed=0)
    assert big["uv"] == pytest.approx(0.3, abs=0.02) and big["vv"] == pytest.approx(2.0, abs=0.03)


def _catch(fn) -> str:
    with pytest.raises(UserError) as err:
        fn()
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_malformed_programs_get_one_line_errors_naming_the_instruction():
    p = Program()
    w = p.matrix("W")
    u = p.vector("u")
    assert "unknown variable 'zz'" in _catch(lambda: p.matmul(w, "zz"))
    assert "only initial matrices have a transpose" in _catch(lambda: u.T)
    assert "needs an initial matrix" in _catch(lambda: p.matmul(u, u))
    assert "NaN or inf" in _catch(lambda: p.nonlin(lambda a: torch.log(a - 100), u))
    assert "expected (7,)" in _catch(lambda: p.nonlin(lambda a: torch.stack([a, a]), u))
    assert "returns a scalar" in _catch(lambda: p.nonlin(lambda a: a.sum(), u))
    assert "not linear" in _catch(lambda: p.nonlin(torch.tanh, u, linear=True))
    assert "already defined" in _catch(lambda: p.nonlin(torch.tanh, u, name="u"))
    assert "needs a vector argument" in _catch(lambda: p.moment(torch.tanh, p.inner(u, u)))
    assert "fails on sample points" in _catch(lambda: p.nonlin(lambda a: a.numpy() + "x", u))
    msg = _catch(lambda: Program(instructions=[Matrix("W"), MatMul("h", "W", "x")]))
    assert msg.startswith("instruction 1 (h = W x)") and "unknown variable 'x'" in msg
    msg = _catch(lambda: Program(instructions=[Matrix("W"), Nonlin("y", torch.tanh, ("W",))]))
    assert "is a matrix" in msg
    assert "positive semidefinite" in _catch(lambda: Program().vectors(["a", "b"], [[1, 2], [2, 1]]))
    assert "`width` must be" in _catch(lambda: run_finite(p, 0))
