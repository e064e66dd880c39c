"""A program's infinite-width limit by the Master Theorem (Tensor Programs IV, Section 7).

Every vector ``x`` of the program has a random variable ``Z^x`` (its coordinates are iid copies of it
as ``n -> oo``) and every scalar a deterministic limit. The ket rules:

* initial vectors: ``Z`` jointly Gaussian with the given covariance;
* ``Nonlin``: ``Z^{phi(x, theta)} = phi(Z^x, theta)``; ``Moment``: ``theta = E phi(Z^x, theta)``;
* ``MatMul``: ``Z^{Wx} = Zhat^{Wx} + Zdot^{Wx}`` where the ``Zhat^{Wy}`` of one matrix ``W`` are jointly
  Gaussian with ``Cov(Zhat^{Wx}, Zhat^{Wy}) = sigma_W^2 E[Z^x Z^y]``, independent of everything else
  (``W`` and ``W^T`` are separate families), and
  ``Zdot^{Wx} = sigma_W^2 sum_y Z^y E[dZ^x / dZhat^{W^T y}]`` over the ``y`` multiplied by ``W^T`` before.

Each family's ``Zhat`` are written ``Zhat_j = sum_k L_jk xi_k`` with iid standard normals ``xi`` and a
lower-triangular ``L`` grown one row per MatMul (conditional sampling given the family's earlier
``Zhat``). Then ``E[dZ/dxi] = L^T E[dZ/dZhat]`` and, by Stein's lemma, ``E[dZ/dxi_k] = E[Z xi_k]``, so
``E[dZ/dZhat] = L^{-T} E[Z xi]`` restricted to the ``Zhat`` that ``x`` depends on (tracked exactly,
so unrelated ones add no noise). Three numerics share this code:

* ``exact``: every Nonlin is linear, so every ``Z`` is a linear combination of the ``xi``; vectors are
  coefficient rows, ``E[Z xi_k]`` is a coefficient, Moments are Gauss-Hermite integrals over their
  arguments' joint Gaussian (exact for polynomial Moments of known degree);
* ``quadrature``: a tensor grid over all ``xi`` (Gauss-Hermite or trapezoid) when there are few;
* ``mc``: ``M`` particles split into independent replicas, whose spread gives a standard error on every
  scalar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from infwidth.device import format_bytes
from infwidth.errors import UserError, check_int
from infwidth.tensor_programs.program import (
    VECTOR,
    InitVectors,
    MatMul,
    Matrix,
    Moment,
    Nonlin,
    Program,
    _LinComb,
)

METHODS = ("auto", "exact", "quadrature", "mc")
DEGENERATE = 1e-10  # a new Zhat whose conditional variance is below this fraction of its variance adds no xi


@dataclass
class LimitResult:
    """Every scalar's limit (mean over replicas), its standard error, and how it was computed."""

    values: dict[str, float]
    se: dict[str, float]
    method: str
    particles: int
    replicas: int
    dims: int
    memory_bytes: int
    seconds: float
    outputs: list[str] = field(default_factory=list)
    replica_values: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def max_se(self, names: list[str] | None = None) -> float:
        """The largest standard error among ``names`` (default: the outputs, else every scalar)."""
        keys = names or self.outputs or list(self.se)
        return max((self.se[k] for k in keys), default=0.0)

    def summary(self) -> str:
        keys = self.outputs or list(self.values)[:10]
        body = ", ".join(f"{k} = {self.values[k]:.6g}" + (f" +- {self.se[k]:.2g}" if self.se[k] else "") for k in keys)
        return (f"{self.method} ({self.particles} particles in {self.replicas} replicas, {self.dims} Gaussian dims, "
                f"{self.seconds:.2f} s): {body}")


@dataclass
class _Family:
    """The ``Zhat`` of one matrix side (``W`` or ``W^T``): inputs, their xi, the factor ``L``."""

    sigma2: float
    x: torch.Tensor  # (R, cap, P): the vectors multiplied so far
    xi: torch.Tensor  # (R, cap, P): the new standard normal of each (zero if none was needed)
    chol: torch.Tensor  # (R, cap, cap)
    active: list[int] = field(default_factory=list)
    bits: list[int] = field(default_factory=list)  # global bit of each Zhat
    anc: list[int] = field(default_factory=list)  # ancestors of each input vector
    own: list[int] = field(default_factory=list)  # each Zhat's own bit (autograd: Zhat are the leaves)
    leaves: list[torch.Tensor] = field(default_factory=list)  # autograd: the Zhat leaf tensors
    inputs: list[torch.Tensor] = field(default_factory=list)  # autograd: the inputs, still in the graph
    m: int = 0


def _matmul_sizes(program: Program) -> dict[tuple[str, bool], int]:
    sizes: dict[tuple[str, bool], int] = {}
    for ins in program.instructions:
        if isinstance(ins, MatMul):
            sizes[(ins.matrix, ins.transpose)] = sizes.get((ins.matrix, ins.transpose), 0) + 1
    return sizes


def _init_factor(cov: Any) -> torch.Tensor:
    """``A`` (k x r) with ``A A^T = cov`` and ``r`` its rank."""
    c = torch.tensor(cov, dtype=torch.float64)
    vals, vecs = torch.linalg.eigh(c)
    keep = vals > 1e-12 * max(float(vals.abs().max()), 1e-300)
    return vecs[:, keep] * vals[keep].sqrt()


def gaussian_dims(program: Program) -> int:
    """How many iid standard normals the limit needs: ranks of the initial covariances + one per MatMul."""
    dims = 0
    for ins in program.instructions:
        if isinstance(ins, InitVectors):
            dims += _init_factor(ins.cov).shape[1]
        elif isinstance(ins, MatMul):
            dims += 1
    return dims


def _peak_live(program: Program) -> int:
    """The most vectors alive at once when each is freed after its last use."""
    last = program.last_use()
    live, peak = 0, 0
    for i, ins in enumerate(program.instructions):
        outs = ins.outs if isinstance(ins, InitVectors) else (() if isinstance(ins, Matrix) else (ins.out,))
        live += sum(program.kinds[o] == VECTOR for o in outs)
        peak = max(peak, live)
        reads = (ins.arg,) if isinstance(ins, MatMul) else (ins.args if isinstance(ins, (Nonlin, Moment)) else ())
        live -= sum(1 for a in set(reads) if program.kinds[a] == VECTOR and last.get(a) == i)
    return peak


def _saved_by(fn: Callable[..., Any], kinds: tuple[str, ...]) -> int:
    """How many vector-sized tensors autograd keeps for one call of ``fn`` (probed on sample points)."""
    pts = 11
    args = [torch.randn(pts if k == VECTOR else (), dtype=torch.float64, requires_grad=k == VECTOR) for k in kinds]
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += int(t.numel() >= pts)
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a function autograd cannot trace is caught when it runs
            return 1
    return count


def estimate_memory(program: Program, points: int, replicas: int = 1, itemsize: int = 8, graph: bool = False) -> int:
    """Bytes the limit holds for ``points`` points per replica: two buffers per MatMul and the live vectors;
    with ``graph`` (autograd derivatives) also every vector, what autograd saves for each Nonlin (probed
    per function on sample points) and the gradients of a backward pass (as many again). An upper bound
    on the measured peak RSS (2.2-2.7x above it on the sizes measured) once the solver fixes glibc's mmap
    threshold (:func:`_mmap_large_buffers`); see docs/tensor_programs.md."""
    sizes = _matmul_sizes(program)
    matmuls = sum(sizes.values())
    vectors = _peak_live(program)
    if graph:
        probed: dict[tuple[Any, tuple[str, ...]], int] = {}
        vectors += 2 * matmuls  # the Zhat leaves and the Zdot sums
        for ins in program.instructions:
            if isinstance(ins, Nonlin) and program.kinds[ins.out] == VECTOR:
                kinds = tuple(program.kinds[a] for a in ins.args)
                key = (ins.fn, kinds)
                if key not in probed:
                    probed[key] = _saved_by(ins.fn, kinds)
                vectors += 1 + probed[key]
        vectors = int(2.6 * vectors)  # a backward pass holds as many gradients again; 2.6 matches measured peak RSS
    per_point = (2 * matmuls + vectors + 4) * itemsize * replicas
    chol = sum((m * m) for m in sizes.values()) * itemsize * replicas
    return per_point * points + chol


def memory_budget(device: torch.device) -> int:
    """Bytes a limit may use: 80% of the free GPU memory, or half the available RAM
    (:func:`infwidth.device.memory_bytes`; 4 GiB when unknown)."""
    from infwidth.device import memory_bytes

    have = memory_bytes(device, available=True)
    if not have:
        return 4 * 2**30
    return int(0.8 * have) if device.type == "cuda" else int(have) // 2


def default_order(dims: int) -> int:
    """Points per direction so the tensor grid has at most ~2^18 nodes (at most 256 per direction)."""
    return max(4, min(256, int(round(2 ** (18 / max(dims, 1))))))


def _rule(rule: str, q: int) -> tuple[np.ndarray, np.ndarray]:
    if rule == "hermite":
        nodes, weights = np.polynomial.hermite_e.hermegauss(q)
    elif rule == "trapezoid":
        nodes = np.linspace(-8.0, 8.0, q)
        weights = np.exp(-0.5 * nodes**2)
    else:
        raise UserError(f"unknown quadrature rule {rule!r}; use 'hermite' or 'trapezoid'")
    return nodes, weights / weights.sum()


class _Solver:
    """Runs the ket rules over one representation (coefficient rows, a grid, or particles)."""

    def __init__(self, program: Program, mode: str, replicas: int, points: int, dtype: torch.dtype,
                 device: torch.device, seed: int, rule: str = "hermite", order: int | None = None,
                 moment_order: int = 20, derivatives: str = "autograd") -> None:
        self.autograd = mode != "exact" and derivatives == "autograd"
        self.program, self.mode, self.R, self.P = program, mode, replicas, points
        self.dtype, self.device = dtype, device
        self.moment_order = moment_order
        self._grids: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.col = 0  # next xi column
        self.weights = torch.full((points,), 1.0 / points, dtype=dtype, device=device)
        if mode == "exact":
            self.weights = torch.ones(points, dtype=dtype, device=device)
        elif mode == "quadrature":
            dims = gaussian_dims(program)
            nodes, weights = _rule(rule, order)
            grid = np.stack(np.meshgrid(*([nodes] * dims), indexing="ij"), -1).reshape(-1, dims)
            wgrid = np.prod(np.stack(np.meshgrid(*([weights] * dims), indexing="ij"), -1).reshape(-1, dims), -1)
            self.grid = torch.from_numpy(np.ascontiguousarray(grid.T)).to(dtype).to(device)  # (dims, P)
            self.weights = torch.from_numpy(wgrid).to(dtype).to(device)
        else:
            self.gen = torch.Generator(device=device).manual_seed(int(seed))
        self.families: dict[tuple[str, bool], _Family] = {}
        for key, m in _matmul_sizes(program).items():
            sigma = next(ins.sigma for ins in program.instructions if isinstance(ins, Matrix) and ins.out == key[0])
            z = torch.zeros(replicas, m, points, dtype=dtype, device=device)
            self.families[key] = _Family(sigma * sigma, z, torch.zeros_like(z),
                                         torch.zeros(replicas, m, m, dtype=torch.float64, device=device))
        self.bit = 0

    # -- representation-specific pieces ---------------------------------------------------------
    def new_xi(self) -> torch.Tensor:
        c = self.col
        self.col += 1
        if self.mode == "exact":
            out = torch.zeros(1, self.P, dtype=self.dtype, device=self.device)
            out[0, c] = 1.0
            return out
        if self.mode == "quadrature":
            return self.grid[c][None]
        return torch.randn(self.R, self.P, generator=self.gen, dtype=self.dtype, device=self.device)

    def mean(self, a: torch.Tensor) -> torch.Tensor:
        return (a * self.weights).sum(-1, keepdim=True)

    def inner_many(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``E[Z^x Z^{row_j}]`` for rows ``(R, m, P)`` -> ``(R, m)``."""
        return torch.einsum("rp,rmp->rm", x * self.weights, rows)

    def center(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mode == "exact" else x - self.mean(x)

    def moment(self, ins: Moment, args: list[torch.Tensor], kinds: list[str]) -> torch.Tensor:
        if self.mode != "exact":
            with torch.no_grad():  # scalars are deterministic in the limit: no derivative flows through them
                return self.mean(torch.as_tensor(ins.fn(*args)).expand(self.R, self.P))
        vecs = [a for a, k in zip(args, kinds, strict=True) if k == VECTOR]
        rows = torch.cat(vecs)  # (k, D): the arguments' coefficients
        vals, vecs_ = torch.linalg.eigh(rows @ rows.T)
        keep = vals > 1e-12 * vals.abs().max().clamp_min(1e-300)
        fac = vecs_[:, keep] * vals[keep].sqrt()  # (k, r): the arguments' joint Gaussian
        q = (ins.degree // 2 + 1) if ins.degree is not None else self.moment_order
        pts, w = self._hermite_grid(q, fac.shape[1])
        z = pts @ fac.T  # (Q, k)
        it = iter(range(z.shape[1]))
        call = [z[:, next(it)][None] if k == VECTOR else a for a, k in zip(args, kinds, strict=True)]
        val = torch.as_tensor(ins.fn(*call)).expand(1, z.shape[0])
        return (val * w).sum(-1, keepdim=True)

    def _hermite_grid(self, q: int, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Gauss-Hermite tensor grid for ``N(0, I_r)``, ``q`` points per direction (cached)."""
        key = (q, r)
        if key not in self._grids and r == 0:
            self._grids[key] = (torch.zeros(1, 0, dtype=self.dtype, device=self.device),
                                torch.ones(1, dtype=self.dtype, device=self.device))
        if key not in self._grids:
            nodes, weights = _rule("hermite", q)
            g = np.stack(np.meshgrid(*([nodes] * r), indexing="ij"), -1).reshape(-1, r)
            wg = np.prod(np.stack(np.meshgrid(*([weights] * r), indexing="ij"), -1).reshape(-1, r), -1)
            self._grids[key] = (torch.from_numpy(g).to(self.dtype).to(self.device),
                                torch.from_numpy(np.atleast_1d(wg)).to(self.dtype).to(self.device))
        return self._grids[key]

    # -- the ket rules --------------------------------------------------------------------------
    def init_vectors(self, ins: InitVectors) -> list[torch.Tensor]:
        fac = _init_factor(ins.cov).to(self.dtype).to(self.device)  # (k, r)
        xis = [self.new_xi() for _ in range(fac.shape[1])]
        out = []
        for i in range(fac.shape[0]):
            z = torch.zeros(self.R if self.mode == "mc" else 1, self.P, dtype=self.dtype, device=self.device)
            for j, xi in enumerate(xis):
                z = z + fac[i, j] * xi
            out.append(z.expand(self.R, self.P) if self.mode != "mc" else z)
        return out

    def matmul(self, ins: MatMul, x: torch.Tensor, anc_x: int) -> tuple[torch.Tensor, int]:
        fam = self.families[(ins.matrix, ins.transpose)]
        oth = self.families.get((ins.matrix, not ins.transpose))
        x_graph = x
        zhat, own, bit = self.zhat(fam, x, anc_x)
        if self.autograd:
            return self._zdot_autograd(fam, oth, x_graph, zhat, own, anc_x)
        return self._zdot_stein(oth, x.detach(), zhat, bit, anc_x)

    def zhat(self, fam: _Family, x: torch.Tensor, anc_x: int) -> tuple[torch.Tensor, int, int]:
        """``Zhat^{Wx}`` sampled conditionally on the family's earlier ``Zhat`` (detached), its own bit, and
        the bits it is a combination of; records ``x`` as the family's next member."""
        s2, m = fam.sigma2, fam.m
        x = x.detach()
        # Zhat: conditional on this family's earlier Zhat
        # the factor L is kept in float64 whatever the particles' dtype (a float32 Cholesky of a long family
        # loses the small conditional variances)
        k0 = s2 * self.mean(x * x)[:, 0].double()  # (R,)
        act = fam.active
        if act:
            idx = torch.tensor(act, device=self.device)
            xa = fam.x[:, :m] if len(act) == m else fam.x.index_select(1, idx)
            k = s2 * self.inner_many(x, xa).double()  # (R, a)
            la = fam.chol[:, :m, :m] if len(act) == m else fam.chol.index_select(1, idx).index_select(2, idx)
            l_vec = torch.linalg.solve_triangular(la, k[..., None], upper=False)[..., 0]
            d2 = k0 - (l_vec * l_vec).sum(-1)
            xia = fam.xi[:, :m] if len(act) == m else fam.xi.index_select(1, idx)
            zhat = torch.einsum("ra,rap->rp", l_vec.to(self.dtype), xia)
        else:
            d2, zhat, l_vec = k0, torch.zeros_like(x), None
        ratio = torch.where(k0 > 0, d2 / k0.clamp_min(1e-300), torch.zeros_like(d2))
        # below the particles' rounding, a "new" direction is rounding noise: no new xi
        floor = max(DEGENERATE, 100 * torch.finfo(self.dtype).eps)
        is_active = bool((k0 > 0).all()) and float(ratio.min()) > floor
        if l_vec is not None:
            fam.chol[:, m, torch.tensor(act, device=self.device)] = l_vec.to(fam.chol.dtype)
        if is_active:
            d = d2.clamp_min(0).sqrt()
            xi = self.new_xi().expand(self.R, self.P)
            zhat = zhat + d[:, None].to(self.dtype) * xi
            fam.xi[:, m] = xi
            fam.chol[:, m, m] = d
            bit = 1 << self.bit
            fam.active.append(m)
        else:
            bit = 0
            for j in act:
                bit |= fam.bits[j]
        own = 1 << self.bit
        self.bit += 1
        fam.bits.append(bit)
        fam.own.append(own)
        fam.anc.append(anc_x)
        fam.x[:, m] = x.detach()
        fam.m += 1
        return zhat, own, bit

    def _zdot_stein(self, oth: _Family | None, x: torch.Tensor, zhat: torch.Tensor, bit: int,
                    anc_x: int) -> tuple[torch.Tensor, int]:
        anc = bit
        out = zhat
        # Zdot: sigma^2 sum_y Z^y E[dZ^x / dZhat^{W^T y}], over the W^T y that x depends on (Stein's lemma)
        if oth is not None and oth.active:
            sel = [j for j in oth.active if oth.bits[j] & anc_x]
            if sel:
                idx = torch.tensor(sel, device=self.device)
                grad_xi = self.inner_many(self.center(x), oth.xi.index_select(1, idx))  # (R, s)
                lss = oth.chol.index_select(1, idx).index_select(2, idx)
                g = torch.linalg.solve_triangular(lss.mT, grad_xi.double()[..., None], upper=True)[..., 0].to(x.dtype)
                out = out + oth.sigma2 * torch.einsum("rs,rsp->rp", g, oth.x.index_select(1, idx))
                for j in sel:
                    anc |= oth.anc[j]
        return out, anc

    def _zdot_autograd(self, fam: _Family, oth: _Family | None, x: torch.Tensor, zhat: torch.Tensor, own: int,
                       anc_x: int) -> tuple[torch.Tensor, int]:
        """Zhat as a leaf; Zdot from per-particle derivatives of Z^x (autograd, expectations detached)."""
        leaf = zhat.detach().requires_grad_(True)
        fam.leaves.append(leaf)
        fam.inputs.append(x)
        out, anc = leaf, own
        if oth is None or not x.requires_grad:
            return out, anc
        sel = [j for j in range(oth.m) if oth.own[j] & anc_x]
        if not sel:
            return out, anc
        grads = torch.autograd.grad((x * self.weights).sum(), [oth.leaves[j] for j in sel], retain_graph=True,
                                    allow_unused=True)
        for j, g in zip(sel, grads, strict=True):
            if g is None:
                continue
            out = out + (oth.sigma2 * g.sum(-1, keepdim=True)) * oth.inputs[j]  # E over particles, per replica
            anc |= oth.anc[j]
        return out, anc


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def choose_method(program: Program, max_quadrature_dims: int = 4) -> str:
    """``exact`` when every Nonlin is linear, ``quadrature`` over few Gaussian dims, else ``mc``."""
    if program.all_linear:
        return "exact"
    return "quadrature" if gaussian_dims(program) <= max_quadrature_dims else "mc"


def solve_limit(
    program: Program,
    method: str = "auto",
    particles: int = 2**14,
    replicas: int = 8,
    target_se: float | None = None,
    order: int | None = None,
    rule: str = "hermite",
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    memory_limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    derivatives: str = "autograd",
    schedule: str = "waves",
) -> LimitResult:
    """The limit of every scalar of ``program`` (Master Theorem), with standard errors for ``mc``.

    ``particles`` M (``mc``: split over ``replicas`` independent runs) or ``target_se`` (a pilot run at
    ``particles``, then M grown so the largest output standard error meets it); ``order`` and ``rule``
    for ``quadrature``. Memory is estimated first; a run that would not fit is refused naming the M
    that fits. ``derivatives``: ``E[dZ/dZhat]`` by "autograd" (per-particle derivatives) or "stein"
    (``E[Z xi]``, no graph kept, noisier). ``schedule``: "waves" runs each wave of independent
    instructions as one torch call (autograd derivatives); "sequential" runs one instruction at a time
    (the reference the waves are tested against; exact algebra and Stein derivatives always do).
    """
    from infwidth.device import resolve_device

    _check_method(method)
    if not isinstance(program, Program):
        raise UserError(f"expected a tensor_programs.Program, got {type(program).__name__}")
    check_int(particles, "particles (M)")
    check_int(replicas, "replicas")
    if target_se is not None and not (isinstance(target_se, (int, float)) and math.isfinite(target_se) and target_se > 0):
        raise UserError(f"target_se must be a positive number, got {target_se!r}")
    dev = resolve_device(device, dtype)
    if derivatives not in ("autograd", "stein"):
        raise UserError(f"unknown derivatives {derivatives!r}; use 'autograd' or 'stein'")
    if schedule not in ("waves", "sequential"):
        raise UserError(f"unknown `schedule` {schedule!r}; use 'waves' or 'sequential'")
    graph = derivatives == "autograd"
    if method == "auto":
        method = choose_method(program)
    if method == "exact" and not program.all_linear:
        bad = next(ins for ins in program.instructions if isinstance(ins, Nonlin) and not ins.linear
                   and any(program.kinds[a] == VECTOR for a in ins.args))
        raise UserError(f"method 'exact' needs linear Nonlins but {bad.out} = Nonlin({getattr(bad.fn, '__name__', 'fn')}) "
                        "is not declared linear; use method='mc' or 'quadrature'")
    budget = memory_budget(dev) if memory_limit is None else int(memory_limit)
    itemsize = torch.finfo(dtype).bits // 8
    if method == "mc":
        if replicas < 2:
            raise UserError(f"Monte Carlo needs replicas >= 2 for a standard error, got {replicas}")
        if particles < 2 * replicas:
            raise UserError(f"particles={particles} is too few for {replicas} replicas; pass particles >= {2 * replicas}")
        run = _run_mc(program, particles, replicas, seed, dtype, dev, budget, itemsize, progress, derivatives, schedule)
        if target_se is not None and run.max_se() > target_se:
            need = int(math.ceil(particles * (run.max_se() / target_se) ** 2 * 1.1))
            need = replicas * math.ceil(need / replicas)
            run = _run_mc(program, need, replicas, seed + 1, dtype, dev, budget, itemsize, progress, derivatives,
                          schedule)
        return run
    dims = gaussian_dims(program)
    if method == "exact":
        points, reps = max(dims, 1), 1
    else:
        q = order if order is not None else default_order(dims)
        check_int(q, "quadrature order")
        points, reps = q**dims, 1
        if points > 2**24:
            raise UserError(f"quadrature over {dims} Gaussian dims at order {q} needs {points} nodes; "
                            "use method='mc' or a smaller order")
        order = q
    need = estimate_memory(program, points, reps, itemsize, graph and method != "exact")
    if need > budget:
        raise UserError(f"the {method} limit needs ~{format_bytes(need)} (budget {format_bytes(budget)}); "
                        "use method='mc'")
    return _execute(program, method, reps, points, dtype, dev, seed, rule, order, need, progress, derivatives,
                    schedule)


def _run_mc(program: Program, particles: int, replicas: int, seed: int, dtype: torch.dtype, dev: torch.device,
            budget: int, itemsize: int, progress: Callable[[int, int], None] | None, derivatives: str,
            schedule: str) -> LimitResult:
    per = particles // replicas
    graph = derivatives == "autograd"
    need = estimate_memory(program, per, replicas, itemsize, graph)
    if need > budget:
        base = estimate_memory(program, 0, replicas, itemsize, graph)
        per_point = max(1, (need - base) // max(per, 1))
        fit = replicas * max(0, (budget - base) // per_point)  # points per replica that fit, times replicas
        raise UserError(f"M={particles} particles need ~{format_bytes(need)} (budget {format_bytes(budget)}); "
                        f"pass particles <= {fit}" + ("" if fit >= 2 * replicas else " (or a shorter program: fewer steps T)"))
    return _execute(program, "mc", replicas, per, dtype, dev, seed, "hermite", None, need, progress, derivatives,
                    schedule)


def _mmap_large_buffers(nbytes: int) -> None:
    """Fix glibc's mmap threshold at its default maximum (32 MiB; ``nbytes`` is unused): larger blocks are
    ``mmap``-ed and go back to the OS when freed, smaller ones come from the heap.

    By default glibc raises its threshold each time a large block is freed, after which the heap
    fragmented: a T = 6 program's peak RSS was 3.4x its live tensors when every vector was a
    separate tensor (measured; see docs/tensor_programs.md). A threshold at the vector size fixed that
    but made every vector an mmap and page-faulted on first touch; with vectors now grouped into a few
    large tensors per instruction wave (:func:`_run_grouped`) a fixed 32 MiB threshold keeps the
    peak under :func:`estimate_memory` and was the faster choice (about 2x in a one-off run at L = 3
    ReLU, B = 16, T = 10). Process-wide; a no-op off glibc.
    """
    global _MMAP_THRESHOLD
    want = 32 * 2**20  # glibc's largest threshold
    if _MMAP_THRESHOLD is not None and _MMAP_THRESHOLD <= want:
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        if libc.mallopt(-3, want) == 1:  # M_MMAP_THRESHOLD; 1 = success
            _MMAP_THRESHOLD = want
    except (OSError, AttributeError):
        pass


_MMAP_THRESHOLD: int | None = None


def _execute(program: Program, method: str, replicas: int, points: int, dtype: torch.dtype, dev: torch.device,
             seed: int, rule: str, order: int | None, memory: int,
             progress: Callable[[int, int], None] | None, derivatives: str = "autograd",
             schedule: str = "waves") -> LimitResult:
    from infwidth.device import torch_threads

    if dev.type == "cpu":
        _mmap_large_buffers(replicas * points * (torch.finfo(dtype).bits // 8))
    # small tensors (coefficient rows, small grids, few particles): one CPU thread beats contended ones
    threads = 1 if dev.type == "cpu" and replicas * points < 2**16 else None
    with torch_threads(threads):
        return _execute_inner(program, method, replicas, points, dtype, dev, seed, rule, order, memory, progress,
                              derivatives, schedule)


def _execute_inner(program: Program, method: str, replicas: int, points: int, dtype: torch.dtype, dev: torch.device,
                   seed: int, rule: str, order: int | None, memory: int,
                   progress: Callable[[int, int], None] | None, derivatives: str, schedule: str) -> LimitResult:
    start = time.perf_counter()
    solver = _Solver(program, method, replicas, points, dtype, dev, seed, rule, order, derivatives=derivatives)
    scalars: dict[str, torch.Tensor] = {}
    if solver.autograd and schedule == "waves":
        with torch.enable_grad():
            scalars = _run_grouped(solver, program, progress)
    else:
        _run_sequential(solver, program, progress, scalars)
    values, se, reps = {}, {}, {}
    for name, v in scalars.items():
        v = v.detach().reshape(-1).to(torch.float64).cpu()
        if not bool(torch.isfinite(v).all()):
            raise UserError(f"the limit of scalar {name!r} is not finite (the dynamics diverged); lower the "
                            "learning rate or fix the program")
        reps[name] = v
        values[name] = float(v.mean())
        se[name] = float(v.std() / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
    return LimitResult(values, se, method, points * replicas, replicas, solver.col, memory,
                       time.perf_counter() - start, list(program.outputs), reps)


def _run_sequential(solver: _Solver, program: Program, progress: Callable[[int, int], None] | None,
                    scalars: dict[str, torch.Tensor]) -> None:
    """One instruction at a time, in program order (exact algebra and Stein derivatives; the reference
    that the grouped execution is tested against)."""
    vals: dict[str, torch.Tensor] = {}
    anc: dict[str, int] = {}
    last = program.last_use()
    total = len(program.instructions)
    with torch.set_grad_enabled(solver.autograd):
        for i, ins in enumerate(program.instructions):
            if isinstance(ins, InitVectors):
                for name, z in zip(ins.outs, solver.init_vectors(ins), strict=True):
                    vals[name], anc[name] = z, 0
            elif isinstance(ins, MatMul):
                vals[ins.out], anc[ins.out] = solver.matmul(ins, vals[ins.arg], anc[ins.arg])
            elif isinstance(ins, (Nonlin, Moment)):
                kinds = [program.kinds[a] for a in ins.args]
                args = [vals[a] if k == VECTOR else scalars[a] for a, k in zip(ins.args, kinds, strict=True)]
                if isinstance(ins, Moment):
                    scalars[ins.out] = solver.moment(ins, args, kinds)
                elif program.kinds[ins.out] == VECTOR:
                    out = torch.as_tensor(ins.fn(*args)).expand(vals[ins.args[kinds.index(VECTOR)]].shape)
                    vals[ins.out] = out
                    a = 0
                    for name, k in zip(ins.args, kinds, strict=True):
                        if k == VECTOR:
                            a |= anc[name]
                    anc[ins.out] = a
                else:
                    scalars[ins.out] = torch.as_tensor(ins.fn(*args)).reshape(-1, 1)
                for a in set(ins.args):
                    if last.get(a) == i and a in vals:
                        del vals[a], anc[a]
            if isinstance(ins, MatMul) and last.get(ins.arg) == i:
                vals.pop(ins.arg, None)
                anc.pop(ins.arg, None)
            if progress is not None and (i % 200 == 0 or i == total - 1):
                progress(i + 1, total)




def _schedule(program: Program) -> list[tuple[tuple[Any, ...], list[int]]]:
    """The instructions in dependency waves, grouped so that one torch call runs a whole group.

    A vector's *level* counts the MatMuls on its longest dependency chain; within a level, *sub* counts
    the Nonlin/Moment steps since the level's MatMuls. Instructions with the same (level, sub) never
    read each other, so all MatMuls of a level run together (their ``Zdot`` share one pass), and the
    Nonlins/Moments of one wave are grouped by function: linear combinations as one matrix product,
    other vector Nonlins of the same function as one call on stacked arguments, bilinear Moments as one
    Gram matrix. Groups are listed in execution order; a group's instructions in program order.
    """
    level: dict[str, int] = {}
    sub: dict[str, int] = {}
    waves: dict[tuple[int, int], dict[tuple[Any, ...], list[int]]] = {}
    for i, ins in enumerate(program.instructions):
        if isinstance(ins, Matrix):
            continue
        if isinstance(ins, InitVectors):
            for o in ins.outs:
                level[o], sub[o] = 0, 0
            wave, key = (0, 0), ("init", i)
        elif isinstance(ins, MatMul):
            lv = level[ins.arg] + 1
            level[ins.out], sub[ins.out] = lv, 0
            wave, key = (lv, 0), ("matmul",)
        else:
            lv = max(level[a] for a in ins.args)
            sb = 1 + max((sub[a] for a in ins.args if level[a] == lv), default=0)
            level[ins.out], sub[ins.out] = lv, sb
            kinds = tuple(program.kinds[a] for a in ins.args)
            wave = (lv, sb)
            if isinstance(ins, Moment):
                bil = getattr(ins.fn, "bilinear", None)
                key = ("bilinear",) if bil is not None and kinds == (VECTOR, VECTOR) else ("moment", i)
            elif program.kinds[ins.out] != VECTOR:
                key = ("scalar", i)
            elif isinstance(ins.fn, _LinComb):
                key = ("lincomb",)
            else:
                key = ("nonlin", id(ins.fn), kinds)
        waves.setdefault(wave, {}).setdefault(key, []).append(i)
    return [(key, idxs) for wave in sorted(waves) for key, idxs in waves[wave].items()]


def _run_grouped(solver: _Solver, program: Program,
                 progress: Callable[[int, int], None] | None) -> dict[str, torch.Tensor]:
    """The ket rules over particles with autograd derivatives, one group of instructions per torch call
    (see :func:`_schedule`). Equal to running the instructions one at a time, up to float rounding and
    the order in which new Gaussians are drawn."""
    ins_list = program.instructions
    groups = _schedule(program)
    last: dict[str, int] = {}
    for g, (_, idxs) in enumerate(groups):
        for i in idxs:
            ins = ins_list[i]
            for a in (ins.arg,) if isinstance(ins, MatMul) else getattr(ins, "args", ()):
                last[a] = g
    vals: dict[str, torch.Tensor] = {}
    anc: dict[str, int] = {}
    scalars: dict[str, torch.Tensor] = {}
    total = len(ins_list)
    done = sum(isinstance(ins, Matrix) for ins in ins_list)  # nothing to run for an initial matrix
    leaf_of: dict[tuple[str, bool], list[tuple[torch.Tensor, int]]] = {k: [] for k in solver.families}

    def vec_anc(names: Sequence[str]) -> int:
        a = 0
        for n in names:
            if program.kinds[n] == VECTOR:
                a |= anc[n]
        return a

    for g, (key, idxs) in enumerate(groups):
        kind = key[0]
        if kind == "init":
            ins = ins_list[idxs[0]]
            with torch.no_grad():
                for name, z in zip(ins.outs, solver.init_vectors(ins), strict=True):
                    vals[name], anc[name] = z, 0
        elif kind == "matmul":
            _matmul_group(solver, program, idxs, vals, anc, leaf_of)
        elif kind == "lincomb":
            _lincomb_group(solver, program, idxs, vals, scalars)
            for i in idxs:
                anc[ins_list[i].out] = vec_anc(ins_list[i].args)
        elif kind == "nonlin":
            _nonlin_group(solver, program, idxs, vals, scalars)
            for i in idxs:
                anc[ins_list[i].out] = vec_anc(ins_list[i].args)
        elif kind == "bilinear":
            with torch.no_grad():
                _bilinear_group(solver, program, idxs, vals, scalars)
        else:
            ins = ins_list[idxs[0]]
            kinds = [program.kinds[a] for a in ins.args]
            with torch.no_grad():
                args = [vals[a] if k == VECTOR else scalars[a] for a, k in zip(ins.args, kinds, strict=True)]
                if kind == "moment":
                    scalars[ins.out] = solver.moment(ins, args, kinds)
                else:
                    scalars[ins.out] = torch.as_tensor(ins.fn(*args)).reshape(-1, 1)
        for i in idxs:
            ins = ins_list[i]
            for a in (ins.arg,) if isinstance(ins, MatMul) else getattr(ins, "args", ()):
                if last.get(a) == g:
                    vals.pop(a, None)
        done += len(idxs)
        if progress is not None:
            progress(min(done, total), total)
    return scalars


def _full(t: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``t`` broadcast to ``shape`` (no autograd node when it already has it)."""
    return t if t.shape == shape else t.expand(shape)


def _stack_args(program: Program, idxs: list[int], vals: dict[str, torch.Tensor],
                scalars: dict[str, torch.Tensor], shape: tuple[int, int]) -> list[torch.Tensor]:
    """Each argument position of a group's instructions stacked: vectors (K, R, P), scalars (K, R', 1)."""
    first = program.instructions[idxs[0]]
    out = []
    for pos, a0 in enumerate(first.args):
        if program.kinds[a0] == VECTOR:
            out.append(torch.stack([_full(vals[program.instructions[i].args[pos]], shape) for i in idxs]))
        else:
            out.append(torch.stack([scalars[program.instructions[i].args[pos]].reshape(-1, 1) for i in idxs]))
    return out


def _nonlin_group(solver: _Solver, program: Program, idxs: list[int], vals: dict[str, torch.Tensor],
                  scalars: dict[str, torch.Tensor]) -> None:
    """Vector Nonlins of one function: one call on stacked arguments (coordinatewise functions broadcast
    over the extra leading dimension); one call per instruction if the function does not."""
    shape = (solver.R, solver.P)
    ins_list = program.instructions
    if len(idxs) > 1:
        fn = ins_list[idxs[0]].fn
        try:
            out = torch.as_tensor(fn(*_stack_args(program, idxs, vals, scalars, shape)))
            if out.shape != (len(idxs), *shape):
                out = out.expand(len(idxs), *shape)
        except (RuntimeError, TypeError, ValueError, IndexError):
            out = None
        if out is not None:
            for i, row in zip(idxs, out.unbind(0), strict=True):
                vals[ins_list[i].out] = row
            return
    for i in idxs:
        ins = ins_list[i]
        args = [vals[a] if program.kinds[a] == VECTOR else scalars[a] for a in ins.args]
        vals[ins.out] = _full(torch.as_tensor(ins.fn(*args)), shape)


def _lincomb_group(solver: _Solver, program: Program, idxs: list[int], vals: dict[str, torch.Tensor],
                   scalars: dict[str, torch.Tensor]) -> None:
    """Linear combinations ``sum_u C_ku v_u`` of one wave as one (batched over replicas) matrix product
    over the union of their vectors, so autograd sees one node instead of one per term."""
    ins_list = program.instructions
    shape = (solver.R, solver.P)
    col: dict[str, int] = {}
    c_k, c_u, c_v = [], [], []  # constant coefficients
    s_k, s_u, s_v = [], [], []  # scalar-variable coefficients (per replica)
    for k, i in enumerate(idxs):
        ins = ins_list[i]
        fn = ins.fn
        scal = iter(ins.args[fn.n_vec:])
        for c, mult, v in zip(fn.consts, fn.mults, ins.args[:fn.n_vec], strict=True):
            u = col.setdefault(v, len(col))
            if c is None:
                s_k.append(k)
                s_u.append(u)
                sv = scalars[next(scal)].reshape(-1)
                s_v.append(sv * mult if mult != 1.0 else sv)
            else:
                c_k.append(k)
                c_u.append(u)
                c_v.append(c)
    reps = solver.R
    coef = torch.zeros(len(idxs), len(col), reps, dtype=solver.dtype, device=solver.device)
    if c_k:
        cv = torch.tensor(c_v, dtype=solver.dtype, device=solver.device)[:, None].expand(len(c_v), reps)
        coef.index_put_((torch.tensor(c_k, device=solver.device), torch.tensor(c_u, device=solver.device)), cv,
                        accumulate=True)
    if s_k:
        sv = torch.stack([v.expand(reps) for v in s_v]).to(solver.dtype)
        coef.index_put_((torch.tensor(s_k, device=solver.device), torch.tensor(s_u, device=solver.device)), sv,
                        accumulate=True)
    # replicas lead, so the product is a batched GEMM without copies: (R, K, U) @ (R, U, P)
    stack = torch.stack([_full(vals[v], shape) for v in col], dim=1)
    out = torch.bmm(coef.permute(2, 0, 1), stack)  # (R, K, P)
    for i, row in zip(idxs, out.unbind(1), strict=True):
        vals[ins_list[i].out] = row


def _bilinear_group(solver: _Solver, program: Program, idxs: list[int], vals: dict[str, torch.Tensor],
                    scalars: dict[str, torch.Tensor]) -> None:
    """Moments ``c E[Z^a Z^b]`` of one wave from one Gram matrix of the distinct ``a`` and ``b``."""
    ins_list = program.instructions
    shape = (solver.R, solver.P)
    ca: dict[str, int] = {}
    cb: dict[str, int] = {}
    for i in idxs:
        a, b = ins_list[i].args
        ca.setdefault(a, len(ca))
        cb.setdefault(b, len(cb))
    if len(ca) * len(cb) > 4 * len(idxs) + 64:  # a sparse set of pairs: one at a time
        for i in idxs:
            ins = ins_list[i]
            scalars[ins.out] = solver.moment(ins, [vals[a] for a in ins.args], [VECTOR, VECTOR])
        return
    sa = torch.stack([_full(vals[a], shape) for a in ca]) * solver.weights
    sb = torch.stack([_full(vals[b], shape) for b in cb])
    gram = torch.einsum("arp,brp->rab", sa, sb)  # (R, A, B)
    ia = torch.tensor([ca[ins_list[i].args[0]] for i in idxs], device=solver.device)
    ib = torch.tensor([cb[ins_list[i].args[1]] for i in idxs], device=solver.device)
    c = torch.tensor([float(ins_list[i].fn.bilinear) for i in idxs], dtype=solver.dtype, device=solver.device)
    picked = gram[:, ia, ib] * c  # (R, K)
    for k, i in enumerate(idxs):
        scalars[ins_list[i].out] = picked[:, k:k + 1]


def _root_grads(roots: list[torch.Tensor], inputs: list[torch.Tensor],
                weights: torch.Tensor) -> dict[int, torch.Tensor | None]:
    """``d E[root_r] / d input`` for every root and input: ``{id(input): (n_roots, *input.shape)}`` (None
    when no root depends on it). One backward pass per root over the grouped graph; a vmapped pass
    over all roots at once (``is_grads_batched``) was measured slower."""
    res: dict[int, list[torch.Tensor | None]] = {id(d): [] for d in inputs}
    for x in roots:
        grads = torch.autograd.grad((x * weights).sum(), inputs, retain_graph=True, allow_unused=True)
        for d, g in zip(inputs, grads, strict=True):
            res[id(d)].append(g)
    return {k: (None if all(g is None for g in v) else
                torch.stack([g if g is not None else torch.zeros_like(d) for g in v]))
            for (k, v), d in zip(res.items(), inputs, strict=True)}


def _matmul_group(solver: _Solver, program: Program, idxs: list[int], vals: dict[str, torch.Tensor],
                  anc: dict[str, int], leaf_of: dict[tuple[str, bool], list[tuple[torch.Tensor, int]]]) -> None:
    """The MatMuls of one level: each ``Zhat`` conditionally on its family's earlier ones (in program
    order); the group's ``Zhat`` enter autograd through one per-replica offset tensor ``delta``,
    so ``E[dZ^x/dZhat_j]`` is the gradient with respect to ``delta_j`` (replicas lead: (R, K, 1)). Then
    ``Zdot^{Wx} = sigma^2 sum_j Z^{y_j} E[dZ^x/dZhat^{W^T y_j}]``, one product per family."""
    ins_list = program.instructions
    zhats, owns, roots = [], [], []
    with torch.no_grad():
        for i in idxs:
            ins = ins_list[i]
            fam = solver.families[(ins.matrix, ins.transpose)]
            x = vals[ins.arg]
            zhat, own, _ = solver.zhat(fam, x, anc[ins.arg])
            zhats.append(_full(zhat, (solver.R, solver.P)))
            owns.append(own)
            roots.append(x)
    delta = torch.zeros(solver.R, len(idxs), 1, dtype=solver.dtype, device=solver.device, requires_grad=True)
    leaves = torch.stack(zhats, dim=1) + delta  # (R, K, P)
    # record the new members (after every Zhat is drawn, so no root sees a group-mate)
    for k, i in enumerate(idxs):
        ins = ins_list[i]
        fam = solver.families[(ins.matrix, ins.transpose)]
        fam.inputs.append(roots[k])
        leaf_of[(ins.matrix, ins.transpose)].append((delta, k))
    # Zdot: E[dZ^x/dZhat_j] for every root x of the group and every leaf j of the other family it depends
    # on: one vector-Jacobian product per root
    need: list[tuple[int, tuple[str, bool], list[int]]] = []
    for k, i in enumerate(idxs):
        ins = ins_list[i]
        okey = (ins.matrix, not ins.transpose)
        oth = solver.families.get(okey)
        if oth is None or not roots[k].requires_grad:
            continue
        sel = [j for j in range(len(leaf_of[okey])) if oth.own[j] & anc[ins.arg]]
        if sel:
            need.append((k, okey, sel))
    terms: dict[tuple[str, bool], list[tuple[int, dict[int, torch.Tensor]]]] = {}
    new_anc = list(owns)
    if need:
        deltas: dict[int, torch.Tensor] = {}
        for _, okey, sel in need:
            for j in sel:
                d = leaf_of[okey][j][0]
                deltas.setdefault(id(d), d)
        dlist = list(deltas.values())
        grads = _root_grads([roots[k] for k, _, _ in need], dlist, solver.weights)
        for r, (k, okey, sel) in enumerate(need):
            oth = solver.families[okey]
            coefs: dict[int, torch.Tensor] = {}
            for j in sel:
                d, row = leaf_of[okey][j]
                gr = grads[id(d)]
                if gr is None:
                    continue
                coefs[j] = oth.sigma2 * gr[r, :, row, 0]  # (R,): E over each replica's particles
                new_anc[k] |= oth.anc[j]
            if coefs:
                terms.setdefault(okey, []).append((k, coefs))
    out = leaves
    for okey, items in terms.items():
        oth = solver.families[okey]
        js = sorted({j for _, c in items for j in c})
        pos = {j: u for u, j in enumerate(js)}
        coef = torch.zeros(solver.R, len(idxs), len(js), dtype=solver.dtype, device=solver.device)
        for k, c in items:
            for j, v in c.items():
                coef[:, k, pos[j]] = v
        ys = torch.stack([_full(oth.inputs[j], (solver.R, solver.P)) for j in js], dim=1)  # (R, J, P)
        out = out + torch.bmm(coef, ys)
    rows = out.unbind(1)
    for k, i in enumerate(idxs):
        vals[ins_list[i].out] = rows[k]
        anc[ins_list[i].out] = new_anc[k]


__all__ = ["LimitResult", "choose_method", "estimate_memory", "gaussian_dims", "solve_limit"]
