"""SGD training of a muP MLP written as a Tensor Program, built automatically; its limit for any depth.

For the finite nets of ``p.mlp(width, d_in, d_out, nonlinearity=phi)`` with ``p`` muP (up to the
abc-symmetry) trained by ``net.sgd(lr)``, every trained tensor has an ``O(1)``-coordinate form that does
not depend on the width (Tensor Programs IV, Sections 6 and 7):

* the input ler's ``d_in`` columns ``U_j`` (``N(0, sigma_1^2 / d_in)``), ``h^1(xi) = sum_j xi_j U_j (+ b^1)``;
* hidden ``W^l = W^l_0 + Delta W^l`` with ``W^l_0`` initial (``N(0, sigma_l^2 / n)``) and
  ``Delta W^l = -(eta / n) sum_s dh^l_s x^{l-1 T}_s``, so ``Delta W^l y = -eta sum_s <x^{l-1}_s, y> dh^l_s``:
  a Moment times a vector (and ``Delta W^{l T} y = -eta sum_s <dh^l_s, y> x^{l-1}_s``);
* the readout ``V_o = n W^{L+1 T}_o`` (``N(0, sigma_{L+1}^2)``), ``f_o = <V_o, x^L>`` (a Moment);
* backward ``dx^L = sum_o chi_o V_o``, ``dh^l = phi'(h^l) dx^l``, ``dx^{l-1} = W^{l T} dh^l`` with
  ``chi = dLoss/df`` (a scalar Nonlin of the outputs);
* SGD: ``U_j -= eta sum_i xi_ij dh^1_i``, ``b^l -= eta sum_i dh^l_i``, ``V_o -= eta sum_i chi_io x^L_i``.

One builder writes T steps of this (batch B, the cyclic minibatches of ``_sgd.batch_indices``) plus
the recorded outputs and last-ler feature kernels on held-out inputs. At width n the program is the
torch net step for step; its limit (:func:`infwidth.tensor_programs.solve_limit`) is the muP limit.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from infwidth import nonlinearities as _nl
from infwidth.device import format_bytes, resolve_device
from infwidth.errors import UserError, check_int
from infwidth.limits.interface import Trajectory
from infwidth.limits.sgd import (
    Loss,
    batch_indices,
    check_dims,
    check_width,
    prepare_data,
    train_module,
)
from infwidth.tensor_programs import LimitResult, Program, Var, run_finite, solve_limit
from infwidth.tensor_programs.limit import choose_method, estimate_memory, memory_budget


@contextlib.contextmanager
def _solve_bar(desc: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` for :func:`solve_limit`: a tqdm bar over the program's
    instructions with an ETA for the whole solve, silent when stderr is not a terminal."""
    from tqdm import tqdm

    with tqdm(total=None, desc=desc, unit="ins", disable=None, leave=False) as bar:
        def update(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        yield update


class _Prod:
    """``c * a * b`` (a degree-2 Moment function; ``bilinear`` lets the limit batch these Moments)."""

    def __init__(self, c: float) -> None:
        self.c = self.bilinear = c
        self.__name__ = "x*y" if c == 1.0 else f"{c:g}*x*y"

    def __call__(self, a: Any, b: Any) -> Any:
        return a * b if self.c == 1.0 else self.c * (a * b)


class _DPhiTimes:
    """``phi'(h) * dx``: the backward Nonlin (linear in ``dx`` only)."""

    def __init__(self, dphi: Any, name: str) -> None:
        self.dphi, self.__name__ = dphi, f"{name}'*"

    def __call__(self, h: Any, dx: Any) -> Any:
        return self.dphi(h) * dx


class _MSEGrad:
    """``chi = (f - y) / B`` for one output coordinate."""

    def __init__(self, target: float, batch: int) -> None:
        self.target, self.batch, self.__name__ = target, batch, "mse'"

    def __call__(self, f: Any) -> Any:
        return (f - self.target) / self.batch


class _XentGrad:
    """``chi_o = (softmax(f)_o - [o = label]) / B`` from the ``d_o`` logits."""

    def __init__(self, o: int, label: int, batch: int) -> None:
        self.o, self.label, self.batch, self.__name__ = o, label, batch, "xent'"

    def __call__(self, *f: Any) -> Any:
        logits = torch.stack(torch.broadcast_tensors(*f), 0)
        p = torch.softmax(logits, 0)[self.o]
        return (p - (1.0 if self.o == self.label else 0.0)) / self.batch


class _Add:
    __name__ = "add"

    def __call__(self, *a: Any) -> Any:
        out = a[0]
        for b in a[1:]:
            out = out + b
        return out


class _BiasStep:
    """``beta - eta sum_i chi_i`` (``beta`` a constant when it is the initial value)."""

    def __init__(self, lr: float, start: float | None) -> None:
        self.lr, self.start, self.__name__ = lr, start, "bias step"

    def __call__(self, *a: Any) -> Any:
        args = list(a)
        out = args.pop(0) if self.start is None else self.start
        for c in args:
            out = out - self.lr * c
        return out


@dataclass
class MLPProgram:
    """The program of T SGD steps, and where the recorded outputs and feature kernels are."""

    program: Program
    f_names: list[list[list[str]]]  # [t][e][o]
    k_names: list[dict[tuple[int, int], str]]  # [t][(e, e')], e <= e'
    init_names: dict[str, Any] = field(default_factory=dict)

    def trajectory(self, values: dict[str, Any], se: dict[str, float] | None = None) -> Trajectory:
        """Assemble ``f[t]`` and ``kernel[t]`` (and their standard errors) from named scalars."""

        def grab(src: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
            f = torch.tensor([[[float(src[n]) for n in row] for row in ft] for ft in self.f_names], dtype=torch.float64)
            e = len(self.f_names[0])
            k = torch.zeros(len(self.k_names), e, e, dtype=torch.float64)
            for t, kt in enumerate(self.k_names):
                for (a, b), n in kt.items():
                    k[t, a, b] = k[t, b, a] = float(src[n])
            return f, k

        f, k = grab(values)
        if se is None or not any(se.values()):
            return Trajectory(f, k)
        fse, kse = grab(se)
        return Trajectory(f, k, fse, kse)


def _phi(nonlinearity: Any) -> _nl.Nonlinearity:
    if not isinstance(nonlinearity, (str, _nl.Nonlinearity)):
        raise UserError("the Tensor-Program limit needs a named nonlinearity with a derivative; "
                        f"choose one of {_nl.choices()}")
    entry = _nl.get(nonlinearity)
    if not entry.derivative_ae:
        raise UserError(f"nonlinearity {entry.name!r} has no usable derivative, so SGD has no limit here; "
                        f"choose one of {_nl.choices()}")
    return entry


def mlp_sgd_program(
    depth: int,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    batch: int,
    eval_x: torch.Tensor,
    nonlinearity: Any = "relu",
    loss: str = "mse",
    sigma: Sequence[float] | None = None,
    bias: bool = False,
    bias_std: float = 1.0,
    kernel: bool = True,
) -> MLPProgram:
    """T steps of muP SGD of an L-hidden-layer MLP on ``(x, y)`` as one program (see module doc).

    ``x`` (N, d_in), ``y`` (N, d_out) targets (mse) or one-hot / integer labels (xent); ``eval_x``
    (E, d_in) is recorded at steps 0..T. ``sigma`` are the init constants ``sigma_1..sigma_{L+1}``
    (as in :class:`infwidth.networks.AbcMLP`). Hidden biases start ``N(0, bias_std^2)``, the readout
    bias at 0.
    """
    check_int(depth, "depth")
    check_int(batch, "batch size")
    check_int(steps, "steps", minimum=0)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise UserError(f"lr must be a positive finite number, got {lr!r}")
    from infwidth import losses as _losses

    loss = _losses.canonical(loss)  # mse or cross_entropy (alias xent)
    ent = _phi(nonlinearity)
    linear = ent.name == "identity"
    L, (N, d_in) = depth, x.shape
    d_out = y.shape[1] if y.dim() == 2 else int(y.max()) + 1
    sig = tuple(float(s) for s in (sigma if sigma is not None else (1.0,) * (L + 1)))
    if len(sig) != L + 1:
        raise UserError(f"need {L + 1} init constants sigma for depth {L}, got {len(sig)}")
    xs = x.detach().to(torch.float64).cpu().tolist()
    ex = eval_x.detach().to(torch.float64).cpu().tolist()
    yy = y.detach().to(torch.float64).cpu()
    labels = (yy.argmax(-1) if yy.dim() == 2 else yy.long()).tolist() if loss == "cross_entropy" else None
    ys = yy.tolist()
    eta = float(lr)
    p = Program(f"muP SGD, L={L}, {ent.name}, B={batch}, T={steps}")
    mats = {lay: p.matrix(f"W{lay}", sig[lay - 1]) for lay in range(2, L + 1)}
    names = [f"U{j}" for j in range(d_in)] + [f"V{o}" for o in range(d_out)]
    var = [sig[0] ** 2 / d_in] * d_in + [sig[L] ** 2] * d_out
    if bias:
        names += [f"b{lay}" for lay in range(1, L + 1)]
        var += [float(bias_std) ** 2] * L
    init = p.vectors(names, var)
    cols = list(init[:d_in])
    outs = list(init[d_in:d_in + d_out])
    biases: dict[int, Var] = {lay: init[d_in + d_out + lay - 1] for lay in range(1, L + 1)} if bias else {}
    beta: list[Var | None] = [None] * d_out
    hist: dict[int, list[tuple[Var, Var]]] = {lay: [] for lay in range(2, L + 1)}
    prod, neg = _Prod(1.0), _Prod(-eta)
    dphi = _DPhiTimes(ent.dphi, ent.name)
    add = _Add()

    def act(h: Var, tag: str) -> Var:
        return h if linear else p.nonlin(ent.phi, h, name=f"x{tag}", label=ent.name)

    def forward(xi: list[float], tag: str) -> tuple[list[Var], list[Var]]:
        terms: list[tuple[Any, Var]] = [(c, u) for c, u in zip(xi, cols, strict=True)]
        if bias:
            terms.append((1.0, biases[1]))
        hs = [p.lincomb(terms, name=f"h1{tag}")]
        acts = [act(hs[-1], f"1{tag}")]
        for lay in range(2, L + 1):
            g = p.matmul(mats[lay], acts[-1], name=f"g{lay}{tag}")
            terms = [(1.0, g)] + [(p.moment(neg, xp, acts[-1]), dh) for xp, dh in hist[lay]]
            if bias:
                terms.append((1.0, biases[lay]))
            hs.append(p.lincomb(terms, name=f"h{lay}{tag}") if len(terms) > 1 else g)
            acts.append(act(hs[-1], f"{lay}{tag}"))
        return hs, acts

    def readout(x_last: Var, tag: str) -> list[Var]:
        fs = []
        for o in range(d_out):
            fo = p.moment(prod, outs[o], x_last, name=f"fm{o}{tag}" if beta[o] is not None else f"f{o}{tag}")
            if beta[o] is not None:
                fo = p.nonlin(add, fo, beta[o], name=f"f{o}{tag}")
            fs.append(fo)
        return fs

    f_names: list[list[list[str]]] = []
    k_names: list[dict[tuple[int, int], str]] = []

    def record(t: int) -> None:
        lasts, ft = [], []
        for e, xi in enumerate(ex):
            _, acts = forward(xi, f"_t{t}e{e}")
            lasts.append(acts[-1])
            ft.append([v.name for v in readout(acts[-1], f"_t{t}e{e}")])
        f_names.append(ft)
        kt = {}
        if kernel:
            for a in range(len(ex)):
                for b in range(a, len(ex)):
                    kt[(a, b)] = p.inner(lasts[a], lasts[b], name=f"K_t{t}_{a}_{b}").name
        k_names.append(kt)

    record(0)
    for t in range(steps):
        idx = batch_indices(t, batch, N).tolist()
        tag = f"_s{t}"
        fw = [forward(xs[i], f"{tag}i{k}") for k, i in enumerate(idx)]
        chis = []
        for k, i in enumerate(idx):
            fs = readout(fw[k][1][-1], f"{tag}i{k}")
            if loss == "mse":
                chis.append([p.nonlin(_MSEGrad(ys[i][o], batch), fs[o], name=f"chi{o}{tag}i{k}") for o in range(d_out)])
            else:
                chis.append([p.nonlin(_XentGrad(o, labels[i], batch), *fs, name=f"chi{o}{tag}i{k}")
                             for o in range(d_out)])
        # backward, all with the weights before this step
        dhs: list[dict[int, Var]] = []
        for k in range(len(idx)):
            hs, acts = fw[k]
            dx = p.lincomb([(chis[k][o], outs[o]) for o in range(d_out)], name=f"dx{L}{tag}i{k}")
            d = {}
            for lay in range(L, 0, -1):
                dh = dx if linear else p.nonlin(dphi, hs[lay - 1], dx, name=f"dh{lay}{tag}i{k}")
                d[lay] = dh
                if lay > 1:
                    g = p.matmul(mats[lay], dh, transpose=True, name=f"gt{lay}{tag}i{k}")
                    terms = [(1.0, g)] + [(p.moment(neg, dh_s, dh), xp) for xp, dh_s in hist[lay]]
                    dx = p.lincomb(terms, name=f"dx{lay - 1}{tag}i{k}") if len(terms) > 1 else g
            dhs.append(d)
        # the SGD step
        cols = [p.lincomb([(1.0, u)] + [(-eta * xs[i][j], dhs[k][1]) for k, i in enumerate(idx)], name=f"U{j}{tag}")
                for j, u in enumerate(cols)]
        if bias:
            biases = {lay: p.lincomb([(1.0, b)] + [(-eta, dhs[k][lay]) for k in range(len(idx))], name=f"b{lay}{tag}")
                      for lay, b in biases.items()}
            beta = [p.nonlin(_BiasStep(eta, None if beta[o] is not None else 0.0),
                             *([beta[o]] if beta[o] is not None else []), *[chis[k][o] for k in range(len(idx))],
                             name=f"beta{o}{tag}") for o in range(d_out)]
        new_outs = []
        for o, v in enumerate(outs):
            terms = [(1.0, v)] + [((-eta, chis[k][o]), fw[k][1][-1]) for k in range(len(idx))]
            new_outs.append(p.lincomb(terms, name=f"V{o}{tag}"))
        outs = new_outs
        for lay in range(2, L + 1):
            for k in range(len(idx)):
                hist[lay].append((fw[k][1][lay - 2], dhs[k][lay]))
        record(t + 1)
    p.output(*[n for ft in f_names for row in ft for n in row], *[n for kt in k_names for n in kt.values()])
    return MLPProgram(p, f_names, k_names, {"columns": names[:d_in], "readout": names[d_in:d_in + d_out]})


class _NTKEntry:
    """``K = <x^L, x^L'> + sum_l <D^l, D^l'> <x^{l-1}, x^{l-1}'> + <D^1, D^1'> xi.xi'`` from its Moments."""

    def __init__(self, dot: float) -> None:
        self.dot, self.__name__ = dot, "ntk"

    def __call__(self, top: Any, d1: Any, *pairs: Any) -> Any:
        out = top + self.dot * d1
        for a, b in zip(pairs[::2], pairs[1::2], strict=True):
            out = out + a * b
        return out


class _KernelStep:
    """``f - lr sum_i K_i chi_i`` (``f`` a constant at step 0)."""

    def __init__(self, lr: float, start: float | None, terms: int) -> None:
        self.lr, self.start, self.terms, self.__name__ = lr, start, terms, "kernel step"

    def __call__(self, *a: Any) -> Any:
        args = list(a)
        out = args.pop(0) if self.start is None else self.start
        for k, c in zip(args[: self.terms], args[self.terms:], strict=True):
            out = out - self.lr * k * c
        return out


def ntk_sgd_program(
    depth: int,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    batch: int,
    eval_x: torch.Tensor,
    nonlinearity: Any = "relu",
    sigma: Sequence[float] | None = None,
    f0: float = 0.0,
) -> MLPProgram:
    """NTP SGD's infinite-width limit as a program: the NTK of ``p.mlp`` (NTP) at initialisation from
    its forward and backward vectors, then SGD in function space, ``f_{t+1} = f_t - lr K chi_t`` (mse).

    NTP's weight updates move each coordinate by ``O(n^{-1/2})``, so in the limit only their first
    order survives (the kernel regime): this is that linearised program. ``f_0`` is the given constant
    (the limit's ``f_0`` is a Gaussian process independent of the kernel; condition on it).
    """
    check_int(depth, "depth")
    check_int(batch, "batch size")
    check_int(steps, "steps", minimum=0)
    ent = _phi(nonlinearity)
    L, (N, d_in) = depth, x.shape
    d_out = y.shape[1]
    sig = tuple(float(s) for s in (sigma if sigma is not None else (1.0,) * (L + 1)))
    xs = x.detach().to(torch.float64).cpu().tolist()
    ex = eval_x.detach().to(torch.float64).cpu().tolist()
    ys = y.detach().to(torch.float64).cpu().tolist()
    p = Program(f"NTP (kernel regime) SGD, L={L}, {ent.name}, B={batch}, T={steps}")
    mats = {lay: p.matrix(f"W{lay}", sig[lay - 1]) for lay in range(2, L + 1)}
    init = p.vectors([f"U{j}" for j in range(d_in)] + ["V"], [sig[0] ** 2 / d_in] * d_in + [sig[L] ** 2])
    cols, v = init[:d_in], init[d_in]
    dphi = _DPhiTimes(ent.dphi, ent.name)
    points = xs + ex  # training points first, then the held-out ones

    feats = []
    for k, xi in enumerate(points):
        hs = [p.lincomb([(c, u) for c, u in zip(xi, cols, strict=True)], name=f"h1_p{k}")]
        acts = [p.nonlin(ent.phi, hs[-1], name=f"x1_p{k}", label=ent.name)]
        for lay in range(2, L + 1):
            hs.append(p.matmul(mats[lay], acts[-1], name=f"h{lay}_p{k}"))
            acts.append(p.nonlin(ent.phi, hs[-1], name=f"x{lay}_p{k}", label=ent.name))
        ds = {L: p.nonlin(dphi, hs[L - 1], v, name=f"D{L}_p{k}")}
        for lay in range(L, 1, -1):
            ds[lay - 1] = p.nonlin(dphi, hs[lay - 2], p.matmul(mats[lay], ds[lay], transpose=True), name=f"D{lay - 1}_p{k}")
        feats.append((acts, ds))

    kern: dict[tuple[int, int], Var] = {}

    def ntk(a: int, b: int) -> Var:
        key = (min(a, b), max(a, b))
        if key not in kern:
            (xa, da), (xb, db) = feats[key[0]], feats[key[1]]
            pairs = []
            for lay in range(2, L + 1):
                pairs += [p.inner(da[lay], db[lay]), p.inner(xa[lay - 2], xb[lay - 2])]
            dot = sum(u * w for u, w in zip(points[key[0]], points[key[1]], strict=True))
            kern[key] = p.nonlin(_NTKEntry(dot), p.inner(xa[-1], xb[-1]), p.inner(da[1], db[1]), *pairs,
                                 name=f"K_{key[0]}_{key[1]}")
        return kern[key]

    f_init = p.moment(_Const(float(f0)), v, name="f_init", degree=1)  # the given f_0, as a scalar
    f: dict[int, list[Var]] = {k: [f_init] * d_out for k in range(len(points))}
    e0 = len(xs)
    f_names: list[list[list[str]]] = []
    k_names: list[dict[tuple[int, int], str]] = []
    kt = {(a, b): ntk(e0 + a, e0 + b).name for a in range(len(ex)) for b in range(a, len(ex))}

    def record() -> None:
        f_names.append([[f[e0 + e][o].name for o in range(d_out)] for e in range(len(ex))])
        k_names.append(kt)

    record()
    for t in range(steps):
        idx = batch_indices(t, batch, N).tolist()
        chis = [[p.nonlin(_MSEGrad(ys[i][o], batch), f[i][o], name=f"chi{o}_s{t}i{k}") for o in range(d_out)]
                for k, i in enumerate(idx)]
        step = _KernelStep(float(lr), None, len(idx))
        f = {k: [p.nonlin(step, f[k][o], *[ntk(k, i) for i in idx], *[c[o] for c in chis], name=f"f{o}_t{t + 1}p{k}")
                 for o in range(d_out)] for k in range(len(points))}
        record()
    p.output(*[n for ft in f_names for row in ft for n in row], *kt.values())
    return MLPProgram(p, f_names, k_names)


class _Const:
    """``0 * a + c``: a constant as a Moment."""

    def __init__(self, c: float) -> None:
        self.c, self.__name__ = c, f"const {c:g}"

    def __call__(self, a: Any) -> Any:
        return 0.0 * a + self.c


def program_init(net: Any, d_in: int, d_out: int, bias: bool) -> dict[str, torch.Tensor]:
    """The initial vectors and matrices of :func:`mlp_sgd_program` read off a finite ``AbcMLP`` ``net``."""
    n, L = net.width, net.depth
    ws = net.weight_scales
    out: dict[str, torch.Tensor] = {}
    w1 = net.w1.detach()
    for j in range(d_in):
        out[f"U{j}"] = ws[0].multiplier * w1[:, j]
    for lay in range(2, L + 1):
        out[f"W{lay}"] = ws[lay - 1].multiplier * getattr(net, f"w{lay}").detach()
    wl = getattr(net, f"w{L + 1}").detach()
    for o in range(d_out):
        out[f"V{o}"] = n * ws[L].multiplier * wl[o]
    if bias:
        for lay in range(1, L + 1):
            out[f"b{lay}"] = net.bias_scales[lay - 1].multiplier * getattr(net, f"b{lay}").detach()
    return out


class MupNet(nn.Module):
    """A finite muP MLP (an :class:`infwidth.networks.AbcMLP`) with ``features`` for the feature kernel.

    ``features(x) @ features(x).T = (1/n) sum_a x^L_a(x) x^L_a(x')``; ``sgd(lr)`` is the net's own
    per-layer SGD. The readout bias (if any) starts at 0, as in the limit.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.width, self.d_in, self.d_out = net.width, net.d_in, net.d_out
        if net.bias_scales is not None:
            with torch.no_grad():
                getattr(net, f"b{net.depth + 1}").zero_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        _, acts = self.net.forward_with_activations(x)
        return acts[f"x{self.net.depth}"] / math.sqrt(self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def sgd(self, lr: float) -> torch.optim.Optimizer:
        return self.net.sgd(lr)


@dataclass
class TPRun(Trajectory):
    """A limit trajectory from the Tensor-Program engine, with how it was computed."""

    method: str = "mc"
    particles: int = 0
    replicas: int = 0
    dims: int = 0
    seconds: float = 0.0
    instructions: int = 0
    result: LimitResult | None = None


class TensorProgramMupLimit:
    """The muP limit of ``p.mlp(width, d_in, d_out, nonlinearity=...)`` under ``net.sgd(lr)``, any depth.

    ``train`` writes the SGD run as a program (:func:`mlp_sgd_program`) and solves its limit; ``sample``
    gives the finite nets that converge to it. ``method``/``particles``/``replicas``/``target_se``
    are passed to :func:`infwidth.tensor_programs.solve_limit`.
    """

    def __init__(
        self,
        p: Any,
        d_in: int,
        d_out: int,
        nonlinearity: Any = "relu",
        bias: bool = False,
        bias_std: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        method: str = "auto",
        particles: int = 2**14,
        replicas: int = 8,
        target_se: float | None = None,
        seed: int = 0,
    ) -> None:
        check_dims(d_in, d_out)
        self.p, self.d_in, self.d_out, self.depth = p, d_in, d_out, p.depth
        self.nonlinearity = _phi(nonlinearity).name
        self.bias, self.bias_std = bool(bias), float(bias_std)
        self.dtype, self.device = dtype, device
        self.solver = {"method": method, "particles": particles, "replicas": replicas, "target_se": target_se,
                       "seed": seed}

    def sample(self, width: int, seed: int) -> MupNet:
        """A finite width-n muP net (float64 unless ``dtype`` says otherwise), seeded."""
        net = self.p.mlp(check_width(width), self.d_in, self.d_out, nonlinearity=self.nonlinearity, bias=self.bias,
                         bias_std=self.bias_std, dtype=self.dtype, seed=seed,
                         device=self.device if self.device is not None else "cpu")
        return MupNet(net)

    def program(self, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, batch: int, eval_x: torch.Tensor,
                loss: str | Loss = "mse") -> MLPProgram:
        """The SGD run as a program (checked data, then :func:`mlp_sgd_program`)."""
        if callable(loss):
            raise UserError("the Tensor-Program limit needs a named loss (mse or cross_entropy), not a callable")
        x, y, eval_x = prepare_data(x, y, eval_x, self.d_in, self.d_out, batch, steps, torch.float64, "cpu")
        return mlp_sgd_program(self.depth, x, y, lr, steps, batch, eval_x, self.nonlinearity, loss, self.p.sigma,
                               self.bias, self.bias_std)

    def train(self, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, batch: int, eval_x: torch.Tensor,
              loss: str | Loss = "mse", **solver: Any) -> TPRun:
        """The limit's SGD trajectory on ``eval_x`` (steps 0..T), with standard errors for Monte Carlo."""
        prog = self.program(x, y, lr, steps, batch, eval_x, loss)
        opts = {**self.solver, **solver}
        self._check_fits(prog.program, opts, lambda t: self.program(x, y, lr, t, batch, eval_x, loss).program, steps)
        if opts.get("progress") is None:
            with _solve_bar("muP limit (Tensor-Program engine)") as bar:
                res = solve_limit(prog.program, dtype=self.dtype, device=self.device, **{**opts, "progress": bar})
        else:
            res = solve_limit(prog.program, dtype=self.dtype, device=self.device, **opts)
        traj = prog.trajectory(res.values, res.se)
        info = {"method": f"Tensor-Program engine ({res.method})", "particles": res.particles,
                "replicas": res.replicas, "instructions": len(prog.program.instructions),
                "seconds": round(res.seconds, 2),
                "limit_f_se": float(traj.f_se[-1].max()) if traj.f_se is not None else 0.0,
                "limit_kernel_se": float((torch.linalg.matrix_norm(traj.kernel_se)
                                          / torch.linalg.matrix_norm(traj.kernel)).max())
                if traj.kernel_se is not None else 0.0,  # relative, like a kernel gap
                "finite": "p.mlp(width) trained by net.sgd"}
        return TPRun(traj.f, traj.kernel, traj.f_se, traj.kernel_se, info, method=res.method,
                     particles=res.particles, replicas=res.replicas, dims=res.dims, seconds=res.seconds,
                     instructions=len(prog.program.instructions), result=res)

    def _check_fits(self, program: Program, opts: dict[str, Any], build: Any, steps: int) -> None:
        """Refuse, naming the M and the T that fit, a Monte-Carlo solve whose memory estimate exceeds the budget."""
        method = opts.get("method", "auto")
        if method == "auto":
            method = choose_method(program)
        if method != "mc":
            return
        dev = resolve_device(self.device, self.dtype)
        budget = memory_budget(dev) if opts.get("memory_limit") is None else int(opts["memory_limit"])
        particles, replicas = int(opts.get("particles", 2**14)), int(opts.get("replicas", 8))
        itemsize, graph = torch.finfo(self.dtype).bits // 8, opts.get("derivatives", "autograd") == "autograd"
        need = estimate_memory(program, particles // max(replicas, 1), replicas, itemsize, graph)
        if need <= budget:
            return
        base = estimate_memory(program, 0, replicas, itemsize, graph)
        fit_m = replicas * max(0, (budget - base) // max(1, (need - base) // max(particles // max(replicas, 1), 1)))
        fit_t = next((t for t in range(steps - 1, -1, -1)
                      if estimate_memory(build(t), particles // max(replicas, 1), replicas, itemsize, graph) <= budget),
                     None)
        t_hint = f"steps <= {fit_t}" if fit_t is not None else "no number of steps fits at this M"
        raise UserError(f"the limit of {steps} steps with M={particles} particles needs ~{format_bytes(need)} "
                        f"(budget {format_bytes(budget)}); pass particles <= {fit_m} or {t_hint}")

    def finite_trajectory(self, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                          batch: int, eval_x: torch.Tensor, loss: str | Loss = "mse") -> Trajectory:
        """The real finite net :meth:`sample` trained by its own ``net.sgd``, recorded like :meth:`train`."""
        return train_module(self.sample(width, seed), x, y, lr, steps, batch, eval_x, loss)

    def simulate(self, width: int, seed: int, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, batch: int,
                 eval_x: torch.Tensor, loss: str = "mse") -> Trajectory:
        """The same program run at finite width n, from the weights of ``sample(width, seed)``."""
        prog = self.program(x, y, lr, steps, batch, eval_x, loss)
        net = self.sample(width, seed).net
        init = program_init(net, self.d_in, self.d_out, self.bias)
        run = run_finite(prog.program, width, dtype=self.dtype, device=self.device, init=init)
        return prog.trajectory(run.scalars)


__all__ = ["MLPProgram", "MupNet", "TPRun", "TensorProgramMupLimit", "mlp_sgd_program", "ntk_sgd_program",
           "program_init"]
