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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from infwidth.errors import UserError, check_int
from infwidth.tensor_programs.program import (
    VECTOR,
    InitVectors,
    MatMul,
    Matrix,
    Moment,
    Nonlin,
    Program,
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
    on the measured peak RSS (3-4x above it on long programs) once the solver fixes glibc's mmap
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


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def memory_budget(device: torch.device) -> int:
    """Bytes a limit may use: 80% of the free GPU memory, or half the available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.8 * free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 4 * 2**30


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
                                         torch.zeros(replicas, m, m, dtype=dtype, device=device))
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
        s2, m = fam.sigma2, fam.m
        x_graph, x = x, x.detach()
        # Zhat: conditional on this family's earlier Zhat
        k0 = s2 * self.mean(x * x)[:, 0]  # (R,)
        act = fam.active
        if act:
            idx = torch.tensor(act, device=self.device)
            xa = fam.x[:, :m] if len(act) == m else fam.x.index_select(1, idx)
            k = s2 * self.inner_many(x, xa)  # (R, a)
            la = fam.chol[:, :m, :m] if len(act) == m else fam.chol.index_select(1, idx).index_select(2, idx)
            l_vec = torch.linalg.solve_triangular(la, k[..., None], upper=False)[..., 0]
            d2 = k0 - (l_vec * l_vec).sum(-1)
            xia = fam.xi[:, :m] if len(act) == m else fam.xi.index_select(1, idx)
            zhat = torch.einsum("ra,rap->rp", l_vec, xia)
        else:
            d2, zhat, l_vec = k0, torch.zeros_like(x), None
        ratio = torch.where(k0 > 0, d2 / k0.clamp_min(1e-300), torch.zeros_like(d2))
        is_active = bool((k0 > 0).all()) and float(ratio.min()) > DEGENERATE
        if l_vec is not None:
            fam.chol[:, m, torch.tensor(act, device=self.device)] = l_vec.to(fam.chol.dtype)
        if is_active:
            d = d2.clamp_min(0).sqrt()
            xi = self.new_xi().expand(self.R, self.P)
            zhat = zhat + d[:, None] * xi
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
        if self.autograd:
            return self._zdot_autograd(fam, oth, x_graph, zhat, own, anc_x)
        anc = bit
        out = zhat
        # Zdot: sigma^2 sum_y Z^y E[dZ^x / dZhat^{W^T y}], over the W^T y that x depends on (Stein's lemma)
        if oth is not None and oth.active:
            sel = [j for j in oth.active if oth.bits[j] & anc_x]
            if sel:
                idx = torch.tensor(sel, device=self.device)
                grad_xi = self.inner_many(self.center(x), oth.xi.index_select(1, idx))  # (R, s)
                lss = oth.chol.index_select(1, idx).index_select(2, idx)
                g = torch.linalg.solve_triangular(lss.mT, grad_xi[..., None], upper=True)[..., 0]
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
) -> LimitResult:
    """The limit of every scalar of ``program`` (Master Theorem), with standard errors for ``mc``.

    ``particles`` M (``mc``: split over ``replicas`` independent runs) or ``target_se`` (a pilot run at
    ``particles``, then M grown so the largest output standard error meets it); ``order`` and ``rule``
    for ``quadrature``. Memory is estimated first; a run that would not fit is refused naming the M
    that fits. ``derivatives``: ``E[dZ/dZhat]`` by "autograd" (per-particle derivatives) or "stein"
    (``E[Z xi]``, no graph kept, noisier).
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
        run = _run_mc(program, particles, replicas, seed, dtype, dev, budget, itemsize, progress, derivatives)
        if target_se is not None and run.max_se() > target_se:
            need = int(math.ceil(particles * (run.max_se() / target_se) ** 2 * 1.1))
            need = replicas * math.ceil(need / replicas)
            run = _run_mc(program, need, replicas, seed + 1, dtype, dev, budget, itemsize, progress, derivatives)
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
        raise UserError(f"the {method} limit needs ~{_size(need)} (budget {_size(budget)}); "
                        "use method='mc'")
    return _execute(program, method, reps, points, dtype, dev, seed, rule, order, need, progress, derivatives)


def _run_mc(program: Program, particles: int, replicas: int, seed: int, dtype: torch.dtype, dev: torch.device,
            budget: int, itemsize: int, progress: Callable[[int, int], None] | None, derivatives: str) -> LimitResult:
    per = particles // replicas
    graph = derivatives == "autograd"
    need = estimate_memory(program, per, replicas, itemsize, graph)
    if need > budget:
        base = estimate_memory(program, 0, replicas, itemsize, graph)
        per_point = max(1, (need - base) // max(per, 1))
        fit = replicas * max(0, (budget - base) // per_point)  # points per replica that fit, times replicas
        raise UserError(f"M={particles} particles need ~{_size(need)} (budget {_size(budget)}); "
                        f"pass particles <= {fit}" + ("" if fit >= 2 * replicas else " (or a shorter program: fewer steps T)"))
    return _execute(program, "mc", replicas, per, dtype, dev, seed, "hermite", None, need, progress, derivatives)


def _mmap_large_buffers(nbytes: int) -> None:
    """Make glibc serve allocations of ``nbytes`` and more by ``mmap`` (returned to the OS when freed).

    By default glibc raises its mmap threshold each time a large block is freed, after which the
    program's vector-sized temporaries come from the heap and fragment it: a T = 6 program's peak RSS
    was 3.4x its live tensors (measured; see docs/tensor_programs.md). A fixed threshold keeps the peak
    at the live tensors, so :func:`estimate_memory` bounds it. Process-wide and harmless elsewhere; a
    no-op off glibc.
    """
    global _MMAP_THRESHOLD
    want = max(64 * 1024, min(int(nbytes), 32 * 2**20))
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
             progress: Callable[[int, int], None] | None, derivatives: str = "autograd") -> LimitResult:
    from infwidth.device import torch_threads

    if dev.type == "cpu":
        _mmap_large_buffers(replicas * points * (torch.finfo(dtype).bits // 8))
    # small tensors (coefficient rows, small grids, few particles): one CPU thread beats contended ones
    threads = 1 if dev.type == "cpu" and replicas * points < 2**16 else None
    with torch_threads(threads):
        return _execute_inner(program, method, replicas, points, dtype, dev, seed, rule, order, memory, progress,
                              derivatives)


def _execute_inner(program: Program, method: str, replicas: int, points: int, dtype: torch.dtype, dev: torch.device,
                   seed: int, rule: str, order: int | None, memory: int,
                   progress: Callable[[int, int], None] | None, derivatives: str) -> LimitResult:
    start = time.perf_counter()
    solver = _Solver(program, method, replicas, points, dtype, dev, seed, rule, order, derivatives=derivatives)
    vals: dict[str, torch.Tensor] = {}
    anc: dict[str, int] = {}
    scalars: dict[str, torch.Tensor] = {}
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


__all__ = ["LimitResult", "choose_method", "estimate_memory", "gaussian_dims", "solve_limit"]
