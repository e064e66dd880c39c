"""Tensor Programs as data: NETSOR-with-scalars programs (Tensor Programs IV, Section 7).

A program has *initial matrices* ``W`` (``n x n``, iid ``N(0, sigma^2/n)`` entries), *initial vectors*
(coordinates iid across ``i``, jointly Gaussian across vectors with a given covariance) and three
instructions:

* ``MatMul``: ``W x`` or ``W^T x`` for an initial matrix ``W`` and a vector ``x``;
* ``Nonlin``: ``phi(x_1, ..., x_k; theta_1, ..., theta_l)`` applied coordinatewise to vectors, with
  scalars as parameters (a scalar when every argument is a scalar);
* ``Moment``: ``(1/n) sum_i phi(x_1_i, ..., x_k_i; theta)``, a scalar.

The program knows nothing about networks; :mod:`infwidth.tensor_programs.mlp` is one client. It is
executed at finite width by :func:`infwidth.tensor_programs.finite.run_finite` and in the limit by
:func:`infwidth.tensor_programs.limit.solve_limit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from infwidth.errors import UserError

VECTOR, SCALAR, MATRIX = "vector", "scalar", "matrix"


@dataclass(frozen=True)
class Matrix:
    """An initial ``n x n`` matrix with iid ``N(0, sigma^2 / n)`` entries."""

    out: str
    sigma: float = 1.0


@dataclass(frozen=True)
class InitVectors:
    """Initial vectors whose coordinates are iid copies of ``N(0, cov)`` (one entry per vector)."""

    outs: tuple[str, ...]
    cov: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class MatMul:
    """``out = W x`` (or ``W^T x`` when ``transpose``) for an initial matrix ``W``."""

    out: str
    matrix: str
    arg: str
    transpose: bool = False


@dataclass(frozen=True)
class Nonlin:
    """``out = fn(*args)`` coordinatewise; ``linear`` promises linearity in the vector arguments."""

    out: str
    fn: Callable[..., Any]
    args: tuple[str, ...]
    linear: bool = False
    label: str = ""


@dataclass(frozen=True)
class Moment:
    """``out = mean_i fn(*args)_i``; ``degree`` promises a polynomial of that degree in the vectors."""

    out: str
    fn: Callable[..., Any]
    args: tuple[str, ...]
    degree: int | None = None
    label: str = ""


Instruction = Matrix | InitVectors | MatMul | Nonlin | Moment


def _fn_name(fn: Callable[..., Any], label: str) -> str:
    return label or getattr(fn, "__name__", "fn").replace("<lambda>", "lambda")


def _describe(i: int, ins: Instruction) -> str:
    """``instruction 4 (h = Nonlin(relu)(g))``: how errors name an instruction."""
    return f"instruction {i} ({_line(ins)})"


def _line(ins: Instruction) -> str:
    if isinstance(ins, Matrix):
        return f"{ins.out} = Matrix(N(0, {ins.sigma:g}^2/n))"
    if isinstance(ins, InitVectors):
        return f"{', '.join(ins.outs)} = InitVectors"
    if isinstance(ins, MatMul):
        return f"{ins.out} = {ins.matrix}{'^T' if ins.transpose else ''} {ins.arg}"
    kind = "Nonlin" if isinstance(ins, Nonlin) else "Moment"
    return f"{ins.out} = {kind}({_fn_name(ins.fn, ins.label)})({', '.join(ins.args)})"


class Var:
    """A named variable of a program; ``W @ x`` and ``W.T @ x`` build MatMuls."""

    def __init__(self, program: Program, name: str, kind: str) -> None:
        self.program, self.name, self.kind = program, name, kind

    def __repr__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def T(self) -> _Transposed:  # noqa: N802 - the math's symbol
        if self.kind != MATRIX:
            raise UserError(
                f"{self.name} is a {self.kind}, not an initial matrix; only initial matrices have a transpose"
            )
        return _Transposed(self)

    def __matmul__(self, other: Var) -> Var:
        return self.program.matmul(self, other)


class _Transposed:
    def __init__(self, matrix: Var) -> None:
        self.matrix = matrix

    def __matmul__(self, other: Var) -> Var:
        return self.matrix.program.matmul(self.matrix, other, transpose=True)


def _sample_check(where: str, fn: Callable[..., Any], kinds: Sequence[str], vector_out: bool,
                  linear: bool = False) -> None:
    """Run ``fn`` on sample points: finite values of the right shape (and linear when promised)."""
    gen = torch.Generator().manual_seed(1234)
    pts = 7

    def draw() -> list[torch.Tensor]:
        return [torch.randn(pts if k == VECTOR else (), generator=gen, dtype=torch.float64) for k in kinds]

    args = draw()
    try:
        out = torch.as_tensor(fn(*args))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of user code is reported in one line
        raise UserError(f"{where}: its function fails on sample points ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); fix the function") from None
    want = (pts,) if vector_out else ()
    if vector_out and out.shape == ():
        raise UserError(f"{where}: its function returns a scalar for vector arguments; it must act coordinatewise "
                        f"and return shape ({pts},) for inputs of shape ({pts},)")
    if tuple(out.shape) != want:
        raise UserError(f"{where}: its function returns shape {tuple(out.shape)} on sample points, expected "
                        f"{want}; it must act coordinatewise")
    if not bool(torch.isfinite(out).all()):
        raise UserError(f"{where}: its function returns NaN or inf on sample points; make it finite on all reals")
    if linear:
        other = draw()
        for a, b in zip(args, other, strict=True):
            if a.dim() == 0:
                b.copy_(a)  # same scalars, new vectors
        mix = [0.3 * a + 1.7 * b if a.dim() else a for a, b in zip(args, other, strict=True)]
        lhs = torch.as_tensor(fn(*mix))
        rhs = 0.3 * out + 1.7 * torch.as_tensor(fn(*other))
        if not torch.allclose(lhs, rhs, rtol=1e-9, atol=1e-9):
            raise UserError(f"{where}: declared linear but its function is not linear in its vector arguments; "
                            "drop linear=True or fix the function")


def _bilinear_check(where: str, fn: Callable[..., Any], kinds: Sequence[str]) -> None:
    """A Moment function with attribute ``bilinear = c`` promises ``fn(a, b) = c a b`` on two vectors (the
    limit then computes a wave of such Moments from one Gram matrix); check it on sample points."""
    c = fn.bilinear  # type: ignore[attr-defined]
    if not (isinstance(c, (int, float)) and math.isfinite(c)) or list(kinds) != [VECTOR, VECTOR]:
        raise UserError(f"{where}: a function marked bilinear = c needs a finite number c and two vector "
                        "arguments; drop the mark or fix it")
    gen = torch.Generator().manual_seed(4321)
    a, b = (torch.randn(7, generator=gen, dtype=torch.float64) for _ in range(2))
    if not torch.allclose(torch.as_tensor(fn(a, b), dtype=torch.float64), c * a * b, rtol=1e-9, atol=1e-12):
        raise UserError(f"{where}: its function is marked bilinear = {c:g} but is not {c:g} * a * b on sample "
                        "points; drop the mark or fix the function")


@dataclass
class Program:
    """A NETSOR-with-scalars program: a list of instructions, built with the methods below.

    ``W = p.matrix("W")``, ``u, v = p.vectors(["u", "v"], cov)``, ``h = W @ x`` (or ``p.matmul``),
    ``x = p.nonlin(torch.tanh, h)``, ``f = p.moment(lambda a, b: a * b, v, x)``; ``print(p)`` lists it.
    """

    name: str = "program"
    instructions: list[Instruction] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        given = list(self.instructions)
        self.instructions = []
        self.kinds: dict[str, str] = {}
        self._checked: set[tuple[Any, ...]] = set()
        for ins in given:
            self.append(ins)

    # ---- building ------------------------------------------------------------------------------
    def _fresh(self, name: str | None, prefix: str) -> str:
        if name is None:
            name = f"{prefix}{len(self.instructions)}"
        return name

    def _ref(self, arg: Any, where: str) -> str:
        if isinstance(arg, Var):
            if arg.program is not self:
                raise UserError(f"{where}: variable {arg.name!r} belongs to another program; build it here")
            return arg.name
        if isinstance(arg, str):
            return arg
        raise UserError(f"{where}: arguments must be variables of this program or their names, got {arg!r}")

    def append(self, ins: Instruction) -> Var | tuple[Var, ...]:
        """Validate one instruction against the program so far and add it (one-line errors name it)."""
        i = len(self.instructions)
        where = _describe(i, ins)
        outs = ins.outs if isinstance(ins, InitVectors) else (ins.out,)
        for out in outs:
            if not isinstance(out, str) or not out:
                raise UserError(f"{where}: output names must be non-empty strings, got {out!r}")
            if out in self.kinds:
                raise UserError(f"{where}: variable {out!r} is already defined; give each instruction a new name")
        if len(set(outs)) != len(outs):
            raise UserError(f"{where}: repeated output names {list(outs)}; name each vector once")

        def kind_of(name: str) -> str:
            if name not in self.kinds:
                raise UserError(f"{where}: unknown variable {name!r}; define it before this instruction")
            return self.kinds[name]

        if isinstance(ins, Matrix):
            if not (isinstance(ins.sigma, (int, float)) and math.isfinite(ins.sigma) and ins.sigma >= 0):
                raise UserError(f"{where}: sigma must be a finite number >= 0, got {ins.sigma!r}")
            kinds = {ins.out: MATRIX}
        elif isinstance(ins, InitVectors):
            cov = torch.as_tensor(ins.cov, dtype=torch.float64)
            k = len(ins.outs)
            if cov.shape != (k, k) or not bool(torch.isfinite(cov).all()):
                raise UserError(f"{where}: the covariance must be a finite {k} x {k} matrix, got shape {tuple(cov.shape)}")
            if not torch.allclose(cov, cov.T, atol=1e-12) or float(torch.linalg.eigvalsh(cov).min()) < -1e-10 * max(
                    1.0, float(cov.abs().max())):
                raise UserError(f"{where}: the covariance must be symmetric positive semidefinite")
            kinds = {o: VECTOR for o in ins.outs}
        elif isinstance(ins, MatMul):
            mk = kind_of(ins.matrix)
            if mk != MATRIX:
                tag = "W^T" if ins.transpose else "W"
                raise UserError(f"{where}: {tag} needs an initial matrix but {ins.matrix!r} is a {mk}; "
                                "MatMul only multiplies initial matrices (write updates through vectors)")
            if kind_of(ins.arg) != VECTOR:
                raise UserError(f"{where}: MatMul multiplies a vector but {ins.arg!r} is a {self.kinds[ins.arg]}")
            kinds = {ins.out: VECTOR}
        elif isinstance(ins, (Nonlin, Moment)):
            if not callable(ins.fn):
                raise UserError(f"{where}: the function must be callable, got {ins.fn!r}")
            if not ins.args:
                raise UserError(f"{where}: needs at least one argument")
            arg_kinds = [kind_of(a) for a in ins.args]
            if MATRIX in arg_kinds:
                bad = ins.args[arg_kinds.index(MATRIX)]
                raise UserError(f"{where}: {bad!r} is a matrix; Nonlin and Moment take vectors and scalars")
            has_vec = VECTOR in arg_kinds
            if isinstance(ins, Moment) and not has_vec:
                raise UserError(f"{where}: a Moment averages over coordinates and needs a vector argument; "
                                "use Nonlin for a function of scalars")
            if isinstance(ins, Moment) and ins.degree is not None and (
                    isinstance(ins.degree, bool) or not isinstance(ins.degree, int) or ins.degree < 0):
                raise UserError(f"{where}: degree must be an integer >= 0, got {ins.degree!r}")
            linear = isinstance(ins, Nonlin) and ins.linear and has_vec
            key = (ins.fn, tuple(arg_kinds), linear)
            if not isinstance(ins.fn, _LinComb) and key not in self._checked:  # library lincombs are linear
                _sample_check(where, ins.fn, arg_kinds, vector_out=has_vec, linear=linear)
                if isinstance(ins, Moment) and getattr(ins.fn, "bilinear", None) is not None:
                    _bilinear_check(where, ins.fn, arg_kinds)
                self._checked.add(key)
            kinds = {ins.out: VECTOR if (has_vec and isinstance(ins, Nonlin)) else SCALAR}
        else:
            raise UserError(f"instruction {i}: unknown instruction {ins!r}; use Matrix, InitVectors, MatMul, "
                            "Nonlin or Moment")
        self.instructions.append(ins)
        self.kinds.update(kinds)
        made = tuple(Var(self, o, kinds[o]) for o in outs)
        return made if isinstance(ins, InitVectors) else made[0]

    def matrix(self, name: str, sigma: float = 1.0) -> Var:
        """An initial ``n x n`` matrix with iid ``N(0, sigma^2/n)`` entries."""
        return self.append(Matrix(name, float(sigma)))  # type: ignore[return-value]

    def vectors(self, names: Sequence[str], cov: Any) -> tuple[Var, ...]:
        """Initial vectors with iid coordinates, jointly ``N(0, cov)`` across the vectors."""
        names = tuple(names)
        c = torch.as_tensor(cov, dtype=torch.float64)
        if c.dim() == 0:
            c = c * torch.eye(len(names), dtype=torch.float64)
        elif c.dim() == 1:
            c = torch.diag(c)
        return self.append(InitVectors(names, tuple(tuple(float(x) for x in row) for row in c.tolist())))  # type: ignore[return-value]

    def vector(self, name: str, var: float = 1.0) -> Var:
        """One initial vector with iid ``N(0, var)`` coordinates."""
        return self.vectors([name], [[float(var)]])[0]

    def matmul(self, matrix: Var | str, x: Var | str, name: str | None = None, transpose: bool = False) -> Var:
        """``W x`` (``W^T x`` with ``transpose``)."""
        where = f"instruction {len(self.instructions)} (MatMul)"
        ins = MatMul(self._fresh(name, "v"), self._ref(matrix, where), self._ref(x, where), bool(transpose))
        return self.append(ins)  # type: ignore[return-value]

    def nonlin(self, fn: Callable[..., Any], *args: Var | str, name: str | None = None, linear: bool = False,
               label: str = "") -> Var:
        """Coordinatewise ``fn(*args)`` (vectors and scalars); a scalar when every argument is one."""
        where = f"instruction {len(self.instructions)} (Nonlin)"
        refs = tuple(self._ref(a, where) for a in args)
        return self.append(Nonlin(self._fresh(name, "v"), fn, refs, bool(linear), label))  # type: ignore[return-value]

    def moment(self, fn: Callable[..., Any], *args: Var | str, name: str | None = None, degree: int | None = None,
               label: str = "") -> Var:
        """The coordinate average ``(1/n) sum_i fn(*args)_i``: a scalar."""
        where = f"instruction {len(self.instructions)} (Moment)"
        refs = tuple(self._ref(a, where) for a in args)
        return self.append(Moment(self._fresh(name, "s"), fn, refs, degree, label))  # type: ignore[return-value]

    def inner(self, x: Var | str, y: Var | str, name: str | None = None) -> Var:
        """``<x, y> = (1/n) sum_i x_i y_i`` (a degree-2 Moment)."""
        return self.moment(_product, x, y, name=name, degree=2, label="x*y")

    def lincomb(self, terms: Sequence[tuple[float | Var | str, Var | str]], name: str | None = None) -> Var:
        """``sum_k c_k x_k`` (a linear Nonlin); ``c_k`` a constant, a scalar variable, or ``(constant, scalar)``."""
        where = f"instruction {len(self.instructions)} (Nonlin)"
        if not terms:
            raise UserError(f"{where}: lincomb needs at least one (coefficient, vector) term")
        consts, mults, vecs, scal = [], [], [], []
        for coef, vec in terms:
            vecs.append(self._ref(vec, where))
            if isinstance(coef, tuple):  # (constant, scalar variable): their product
                mult, coef = float(coef[0]), coef[1]
            else:
                mult = 1.0
            if isinstance(coef, (Var, str)):
                consts.append(None)
                mults.append(mult)
                scal.append(self._ref(coef, where))
            else:
                consts.append(float(coef))
                mults.append(1.0)
        fn = _LinComb(tuple(consts), tuple(mults), len(vecs))
        return self.nonlin(fn, *vecs, *scal, name=name, linear=True, label=fn.label())

    def output(self, *scalars: Var | str) -> None:
        """Mark scalars as the program's outputs (every scalar is returned; outputs are listed first)."""
        for s in scalars:
            ref = self._ref(s, "output")
            if self.kinds.get(ref) != SCALAR:
                raise UserError(f"output {ref!r} is not a scalar of this program; outputs are Moments or scalar Nonlins")
            if ref not in self.outputs:
                self.outputs.append(ref)

    # ---- inspection ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """How many instructions of each kind (and how many initial vectors)."""
        out = {"Matrix": 0, "InitVectors": 0, "MatMul": 0, "Nonlin": 0, "Moment": 0}
        for ins in self.instructions:
            out[type(ins).__name__] += len(ins.outs) if isinstance(ins, InitVectors) else 1
        return out

    @property
    def all_linear(self) -> bool:
        """Every Nonlin with a vector argument is linear in its vectors (the exact-algebra case)."""
        return all(ins.linear for ins in self.instructions
                   if isinstance(ins, Nonlin) and any(self.kinds[a] == VECTOR for a in ins.args))

    def last_use(self) -> dict[str, int]:
        """The index of the last instruction reading each variable (for freeing memory)."""
        last: dict[str, int] = {}
        for i, ins in enumerate(self.instructions):
            if isinstance(ins, MatMul):
                last[ins.arg] = i
            elif isinstance(ins, (Nonlin, Moment)):
                for a in ins.args:
                    last[a] = i
        return last

    def listing(self, limit: int | None = 200) -> str:
        """The program, one instruction a line (the first ``limit`` lines)."""
        c = self.counts()
        head = (f"# {self.name}: {c['Matrix']} matrices, {c['InitVectors']} initial vectors, {c['MatMul']} MatMul, "
                f"{c['Nonlin']} Nonlin, {c['Moment']} Moment")
        lines = [head]
        for i, ins in enumerate(self.instructions):
            if limit is not None and i >= limit:
                lines.append(f"... {len(self.instructions) - limit} more instructions")
                break
            text = _line(ins)
            if isinstance(ins, InitVectors):
                text += f" ~ N(0, {[list(r) for r in ins.cov]})"
            if isinstance(ins, (Nonlin, Moment)) and not isinstance(ins, InitVectors):
                kind = self.kinds[ins.out]
                text += f"   [{kind}]"
            if isinstance(ins, (Nonlin, Moment)) and ins.out in self.outputs:
                text += "  -> output"
            lines.append(f"{i:4d}  {text}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.listing()


def _product(x: Any, y: Any) -> Any:
    return x * y


_product.bilinear = 1.0  # type: ignore[attr-defined]  # fn(a, b) = 1.0 * a * b: the limit groups these Moments


class _LinComb:
    """``sum_k c_k x_k``: constant coefficients first, then scalar variables in order."""

    def __init__(self, consts: tuple[float | None, ...], mults: tuple[float, ...], n_vec: int) -> None:
        self.consts, self.mults, self.n_vec = consts, mults, n_vec
        self.__name__ = "lincomb"

    def __call__(self, *args: Any) -> Any:
        vecs, scal = args[: self.n_vec], iter(args[self.n_vec:])
        out = None
        for c, m, v in zip(self.consts, self.mults, vecs, strict=True):
            term = ((m * next(scal) if m != 1.0 else next(scal)) if c is None else c) * v
            out = term if out is None else out + term
        return out

    def label(self) -> str:
        parts = ["s" if c is None else f"{c:.3g}" for c in self.consts[:4]]
        more = "" if len(self.consts) <= 4 else f" + ...{len(self.consts) - 4}"
        return "lincomb " + " + ".join(f"{p}*x{k}" for k, p in enumerate(parts)) + more


__all__ = ["InitVectors", "Instruction", "MatMul", "Matrix", "Moment", "Nonlin", "Program", "Var"]
