"""Coordinate check: measure how every activation's coordinate size scales with width, and test it.

For each width, seed and step ``t`` (after ``t`` updates on one fixed batch) we record the root mean
square of ``h^l_t, x^l_t, f_t`` and of the changes ``h^l_t - h^l_0``, ``x^l_t - x^l_0``, ``f_t - f_0``;
fit the log-log slope against width (mean over seeds of ``log RMS``) and compare it with the exponent
the classification predicts (:func:`predicted_sizes`). A width whose run overflows or turns NaN stops
there and the report names the first non-finite quantity (layer) and the step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.device import torch_threads
from infwidth.errors import UserError, check_int
from infwidth.networks.mlp import (
    AbcMLP,
    ScaledMLP,
    TensorScale,
    abc_adam_exponents,
    resolve_nonlinearity,
)
from infwidth.parametrizations.abc import Parametrization

#: Default slope tolerance: finite-width corrections (relative O(n^{-1/2}) terms) plus seed noise.
BASE_TOLERANCE = 0.1
NOISE_FACTOR = 3.0


def quantity_names(depth: int) -> list[str]:
    """Recorded quantities in forward order: ``h1, x1, ..., hL, xL, f`` then their changes ``dh1..``."""
    sizes = [f"{s}{k}" for k in range(1, depth + 1) for s in "hx"] + ["f"]
    return sizes + ["d" + q for q in sizes]


# ---- predictions -------------------------------------------------------------------------------
def predicted_sizes(
    p: Parametrization,
    steps: int,
    optimizer: str = "sgd",
    adam_c: Sequence[Fraction] | None = None,
    phi: str = "relu",
) -> dict[tuple[int, str], Fraction | None]:
    """Predicted exponent ``e`` (RMS ~ ``n^e``) of every quantity at every step ``0..steps``.

    Step 0 and step 1 come from :func:`infwidth.parametrizations.classify.predicted_exponents`
    (init, and one update with the readout still at its init size). From step 2 on the backward
    vector has the size of the *updated* readout, ``n^{-min(a_{L+1}+b_{L+1}, 2a_{L+1}+c)}``
    (SGD): we reuse the one-update formula with ``a_{L+1}+b_{L+1}`` replaced by that minimum.
    Unstable parametrizations compound their blow-up step after step: no prediction after step 1;
    none at all when ``p`` is not stable at initialization.
    ``h_t, x_t`` (t >= 1) are predicted as the larger of the init size and the change.
    """
    from infwidth.parametrizations import classify, predicted_exponents

    phi_key = phi if phi in ("relu", "tanh") else "relu"
    opt = optimizer.lower()
    kw: dict[str, Any] = {"optimizer": opt, "phi": phi_key}
    if opt == "adam":
        kw["adam_c"] = tuple(adam_c) if adam_c is not None else abc_adam_exponents(p)
    names = quantity_names(p.depth)
    try:
        one = predicted_exponents(p, **kw)
    except UserError:  # not stable at init: the classification predicts no exponents
        return {(t, q): None for t in range(steps + 1) for q in names}
    later: dict[str, Fraction] | None = None
    stable = classify(p, adam_c=kw.get("adam_c")).stable
    if stable:
        later = one
        alpha, gamma = p.a[-1] + p.b[-1], 2 * p.a[-1] + p.c
        if opt == "sgd" and gamma < alpha:
            b_out = gamma - p.a[-1]  # readout already moved: backward vector ~ n^{-gamma}
            shifted = Parametrization(a=p.a, b=p.b[:-1] + (b_out,), c=p.c, sigma=p.sigma)
            later = predicted_exponents(shifted, **kw)
    out: dict[tuple[int, str], Fraction | None] = {}
    for t in range(steps + 1):
        source = None if t == 0 else (one if t == 1 else later)
        for q in names:
            if q.startswith("d"):
                out[(t, q)] = None if source is None else source[q]
            elif t == 0:
                out[(t, q)] = one[q]
            else:
                out[(t, q)] = None if source is None else max(one[q], source["d" + q])
    return out


# ---- measurement -------------------------------------------------------------------------------
@dataclass
class Divergence:
    """A run that overflowed or turned NaN: where (first non-finite quantity) and when."""

    width: int
    seed: int
    step: int
    layer: str

    def __str__(self) -> str:
        return f"width {self.width}, seed {self.seed}: {self.layer} not finite at step {self.step}"


def _rms_all(tensors: list[torch.Tensor]) -> np.ndarray:
    """RMS of each tensor; squares that overflow the dtype are redone in float64 (only true inf/NaN stay)."""
    rms = torch.stack([torch.linalg.vector_norm(t) / math.sqrt(t.numel()) for t in tensors]).cpu().double().numpy()
    for i in np.flatnonzero(~np.isfinite(rms)):
        t = tensors[i]
        rms[i] = (torch.linalg.vector_norm(t, dtype=torch.float64) / math.sqrt(t.numel())).item()
    return rms


def _rms_stacked(hidden: torch.Tensor, f: torch.Tensor, hidden0: torch.Tensor, f0: torch.Tensor) -> np.ndarray:
    """RMS of ``h1, x1, .., f`` and of their changes, with the hidden layers stacked (few big passes)."""
    scale = 1.0 / math.sqrt(hidden[0].numel())
    sizes = torch.linalg.vector_norm(hidden, dim=(1, 2)) * scale
    deltas = torch.linalg.vector_norm(hidden - hidden0, dim=(1, 2)) * scale
    fs = torch.stack([torch.linalg.vector_norm(f), torch.linalg.vector_norm(f - f0)]) / math.sqrt(f.numel())
    return torch.cat([sizes, fs[:1], deltas, fs[1:]]).cpu().double().numpy()


def _loss_fn(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "xent":
        return torch.nn.functional.cross_entropy
    return lambda f, y: 0.5 * ((f - y) ** 2).sum(dim=1).mean()


class _NestedNoise:
    """Standard normals drawn once per seed at the largest width; smaller widths take the top-left block.

    Every net is still exactly iid-Gaussian initialized; nets of different widths share their
    Gaussians (common random numbers), which makes slope fits less noisy and init cheaper.
    """

    def __init__(self, seed: int, dims: list[tuple[int, int]], dtype: torch.dtype, first_rank: int | None = None) -> None:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.tensors = []
        if first_rank is not None:  # only the first layer's image of the inputs is needed (see _first_layer_image)
            dims = [(dims[0][0], first_rank)] + dims[1:]
        for fan_out, fan_in in dims:
            self.tensors.append(
                (torch.randn(fan_out, fan_in, generator=gen, dtype=dtype), torch.randn(fan_out, generator=gen, dtype=dtype))
            )

    def __call__(self, layer: int, shape: tuple[int, ...]) -> torch.Tensor:
        w, b = self.tensors[layer - 1]
        return w[: shape[0], : shape[1]] if len(shape) == 2 else b[: shape[0]]


def _first_layer_image(x: torch.Tensor, noise: _NestedNoise, n: int) -> torch.Tensor:
    """``x W^T`` for an ``n x d_in`` iid N(0,1) matrix ``W``, drawn with ``n * rank(x)`` normals only.

    With ``x^T = Q R`` (reduced QR, ``Q`` orthonormal columns), ``x W^T = R^T (W Q)^T`` and ``W Q`` is
    again iid N(0,1): exact in distribution. The first layer is never needed otherwise (its SGD
    updates act through ``x`` alone), so the ``n x d_in`` matrix is never drawn.
    """
    _, r = torch.linalg.qr(x.double().T, mode="reduced")
    return r.T.to(x.dtype) @ noise.tensors[0][0][:n].T


def measure(
    net: ScaledMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    steps: int,
    loss: str = "xent",
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """RMS of every quantity at steps ``0..steps`` (rows) training on ``(x, y)``; and the divergence.

    Returns ``(sizes, (step, name) or None)``; rows after a divergence are NaN.
    """
    names = quantity_names(net.depth)
    half = len(names) // 2
    sizes = np.full((steps + 1, len(names)), np.nan)
    lossf = _loss_fn(loss)
    first: list[torch.Tensor] = []
    for t in range(steps + 1):
        f, acts = net.forward_with_activations(x)
        now = [acts[q] for q in names[: half - 1]] + [f]
        with torch.no_grad():
            if t == 0:
                first = [a.detach().clone() for a in now]
            row = _rms_all(now + [a - a0 for a, a0 in zip(now, first, strict=True)])
        sizes[t] = row
        bad = ~np.isfinite(row[:half])
        if bad.any():
            return sizes, (t, names[int(np.argmax(bad))])
        if t == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        lossf(f, y).backward()
        optimizer.step()
    return sizes, None


def measure_sgd_lowrank(
    net: ScaledMLP, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, loss: str = "xent"
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """Same as :func:`measure` with ``net.sgd(lr)``, computed without forming any weight update.

    SGD keeps every effective weight low-rank around its init: ``M_t = M_0 - sum_s eta dh_s^T x_s``
    (``eta = lr * rate * multiplier^2``), so ``x M_t^T = x M_0^T - sum_s eta (x x_s^T) dh_s``. A step
    then costs one forward and one backward-data product with ``M_0``: no weight gradients, no
    ``n x n`` updates. Exact up to floating-point summation order. ``net`` is not modified.
    """
    weights = [getattr(net, f"w{k}").detach() for k in range(1, net.depth + 2)]
    return _lowrank_sgd(weights, list(net.weight_scales), net.phi, x, y, lr, steps, loss)


def _lowrank_sgd(
    weights: list[torch.Tensor],
    scales: list[TensorScale],
    phi: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    loss: str,
    init_factor: Sequence[float] | None = None,
    first_image: torch.Tensor | None = None,
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """Low-rank SGD measurement on raw tensors: ``M_0 = multiplier * init_factor * weights[k]``.

    ``first_image`` (``x W_1^T`` before scaling) replaces ``weights[0]``, which may then be None.
    """
    depth = len(weights) - 1
    names = quantity_names(depth)
    half = len(names) // 2
    sizes = np.full((steps + 1, len(names)), np.nan)
    lossf = _loss_fn(loss)
    factors = [1.0] * len(weights) if init_factor is None else list(init_factor)
    mults = [s.multiplier * fac for s, fac in zip(scales, factors, strict=True)]
    etas = [lr * s.sgd_lr * s.multiplier**2 for s in scales]
    past_in: list[torch.Tensor | None] = [None] * len(weights)  # stacked x_s (rows), per layer
    past_dh: list[torch.Tensor | None] = [None] * len(weights)  # stacked -eta dh_s, per layer
    first: torch.Tensor | None = None
    first_f: torch.Tensor | None = None
    # the input never changes: the first layer's image of it is computed once
    base_h1 = (torch.nn.functional.linear(x, weights[0]) if first_image is None else first_image) * mults[0]
    for t in range(steps + 1):
        inputs, pre, now = [], [], []
        xin = x
        for i, (w, m) in enumerate(zip(weights, mults, strict=True)):
            low = None if past_in[i] is None else (xin @ past_in[i].T) @ past_dh[i]  # type: ignore[union-attr]
            if i == 0:
                h = (base_h1 if low is None else base_h1 + low).detach().requires_grad_(True)
            elif low is None:
                h = torch.mm(xin, w.t()).mul_(m)
            else:
                h = torch.addmm(low, xin, w.t(), alpha=m)  # one fused call: fewer passes over (batch, n)
            inputs.append(xin)
            pre.append(h)
            if i < depth:
                xin = phi(h)
                now += [h, xin]
        f = pre[-1]
        with torch.no_grad():
            hidden = torch.stack([a.detach() for a in now])  # (2L, batch, n): one pass for all layers
            if first is None:
                first, first_f = hidden, f.detach().clone()
            row = _rms_stacked(hidden, f.detach(), first, first_f)  # type: ignore[arg-type]
            if not np.isfinite(row).all():  # overflowing squares vs true inf/NaN: redo per tensor
                now.append(f)
                firsts = list(first) + [first_f]
                row = _rms_all([a.detach() for a in now] + [(a - a0).detach() for a, a0 in zip(now, firsts, strict=True)])
        sizes[t] = row
        bad = ~np.isfinite(row[:half])
        if bad.any():
            return sizes, (t, names[int(np.argmax(bad))])
        if t == steps:
            break
        grads = torch.autograd.grad(lossf(f, y), pre)
        with torch.no_grad():
            for i, (xi, g) in enumerate(zip(inputs, grads, strict=True)):
                xi, g = xi.detach(), -etas[i] * g
                past_in[i] = xi if past_in[i] is None else torch.cat([past_in[i], xi])  # type: ignore[list-item]
                past_dh[i] = g if past_dh[i] is None else torch.cat([past_dh[i], g])  # type: ignore[list-item]
    return sizes, None


@dataclass
class SlopeRow:
    """One quantity at one step: fitted and predicted slope, tolerance and verdict."""

    step: int
    quantity: str
    fitted: float | None
    stderr: float | None
    predicted: Fraction | None
    tolerance: float | None
    status: str  # pass | fail | diverged | diverged (predicted growth) | no prediction | not tested (crossover)

    @property
    def passed(self) -> bool:
        return self.status not in ("fail", "diverged")

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "quantity": self.quantity,
            "fitted_slope": self.fitted,
            "stderr": self.stderr,
            "predicted_slope": None if self.predicted is None else str(self.predicted),
            "predicted_slope_float": None if self.predicted is None else float(self.predicted),
            "tolerance": self.tolerance,
            "status": self.status,
            "pass": self.passed,
        }


@dataclass
class CoordCheck:
    """Everything one coordinate check measured: sizes[width, seed, step, quantity], fits, divergences."""

    parametrization: Parametrization
    widths: list[int]
    seeds: list[int]
    steps: int
    optimizer: str
    lr: float
    sizes: np.ndarray
    names: list[str]
    predicted: dict[tuple[int, str], Fraction | None]
    divergences: list[Divergence] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    base_tolerance: float = BASE_TOLERANCE
    fit_from: int | None = None

    def fit(self, step: int, quantity: str) -> tuple[float | None, float | None]:
        """Least-squares slope of mean-over-seeds log RMS vs log width, and its seed standard error."""
        j = self.names.index(quantity)
        vals = self.sizes[:, :, step, j]
        keep = np.all(np.isfinite(vals) & (vals > 0), axis=1)
        widths = np.asarray(self.widths, dtype=float)
        if self.fit_from is not None:
            keep &= widths >= self.fit_from
        if keep.sum() < 2:
            return None, None
        logn = np.log(widths[keep])
        logs = np.log(vals[keep])
        slope = float(np.polyfit(logn, logs.mean(axis=1), 1)[0])
        if logs.shape[1] < 2:
            return slope, None
        per_seed = [np.polyfit(logn, logs[:, s], 1)[0] for s in range(logs.shape[1])]
        return slope, float(np.std(per_seed, ddof=1) / math.sqrt(len(per_seed)))

    def rows(self) -> list[SlopeRow]:
        """One verdict per (step, quantity); changes only from step 1 on.

        A size at step ``t >= 1`` is its init value (``n^{e0}``) plus its change (``n^{e1}``); when
        ``e0 != e1`` its log-log curve bends between the two power laws over any finite width range,
        so it is reported but not tested (the init sizes and the changes are tested separately).
        """
        out = []
        for t in range(self.steps + 1):
            for q in self.names:
                if q.startswith("d") and t == 0:
                    continue
                pred = self.predicted.get((t, q))
                slope, se = self.fit(t, q)
                tol = self.base_tolerance + NOISE_FACTOR * (se or 0.0)
                if pred is None:
                    status = "no prediction"
                elif t > 0 and not q.startswith("d") and self.predicted[(0, q)] != self.predicted.get((t, "d" + q)):
                    status = "not tested (crossover)"
                elif slope is None:
                    status = "diverged (predicted growth)" if pred > 0 else "diverged"
                else:
                    status = "pass" if abs(slope - float(pred)) <= tol else "fail"
                out.append(SlopeRow(t, q, slope, se, pred, None if pred is None else tol, status))
        return out

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: config, per-quantity verdicts, divergences and the raw sizes."""
        rows = self.rows()  # one fit per (step, quantity)
        return {
            "config": self.config,
            "parametrization": self.parametrization.as_dict(),
            "passed": all(r.passed for r in rows),
            "tested": sum(r.status in ("pass", "fail") for r in rows),
            "tolerance_rule": f"|fitted - predicted| <= {self.base_tolerance} + {NOISE_FACTOR} x seed standard error",
            "quantities": [r.as_dict() for r in rows],
            "divergences": [vars(d) | {"message": str(d)} for d in self.divergences],
            "sizes": {
                str(w): {q: _finite_or_none(self.sizes[i, :, :, j]) for j, q in enumerate(self.names)}
                for i, w in enumerate(self.widths)
            },
        }

    def mean_sizes(self, quantity: str, step: int) -> np.ndarray:
        """Geometric mean over seeds of the RMS of ``quantity`` at ``step``, per width (NaN if diverged)."""
        vals = self.sizes[:, :, step, self.names.index(quantity)]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.exp(np.log(vals).mean(axis=1))


def _shapes(n: int, d_in: int, d_out: int, depth: int) -> list[tuple[int, int]]:
    return [(n, d_in)] + [(n, n)] * (depth - 1) + [(d_out, n)]


def _finite_or_none(values: np.ndarray) -> list:
    """Nested lists for JSON, non-finite entries (diverged runs) as None (strict JSON has no NaN)."""
    return [[float(v) if np.isfinite(v) else None for v in row] for row in values]


def _check_inputs(widths: Sequence[int], steps: int, seeds: int, lr: float) -> list[int]:
    widths = [int(w) for w in widths]
    if len(widths) < 2:
        raise UserError(f"need at least 2 widths to fit a slope, got {len(widths)}; pass e.g. --widths 64,128,256")
    if any(w < 1 for w in widths):
        raise UserError(f"widths must be positive, got {','.join(map(str, widths))}")
    if any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
        raise UserError(f"widths must increase, got {','.join(map(str, widths))}; list them smallest first")
    check_int(steps, "steps")
    check_int(seeds, "seeds")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise UserError(f"learning rate must be a positive finite number, got {lr!r}")
    return widths


def run_coordcheck(
    p: Parametrization,
    widths: Sequence[int],
    *,
    steps: int = 3,
    seeds: int = 3,
    optimizer: str = "sgd",
    lr: float = 0.1,
    d_in: int = 32,
    d_out: int = 10,
    batch: int = 32,
    nonlinearity: str = "relu",
    loss: str | None = None,
    form: str = "abc",
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
    seed: int = 0,
    nested: bool = True,
    lowrank: bool = True,
    base_tolerance: float = BASE_TOLERANCE,
    fit_from: int | None = None,
    progress: Callable[[str], None] | None = None,
    threads: int | None = 1,
    adam_c: Sequence[Any] | None = None,
) -> CoordCheck:
    """Train ``p``'s MLP at every width for ``steps`` steps on one random batch, ``seeds`` times.

    Inputs are iid N(0, 1) (O(1) coordinates), labels random classes (cross-entropy; MSE against
    N(0,1) targets when ``d_out == 1``). ``form="practical"`` trains the muP-style practical form
    (identical outputs, see :mod:`.practical`). ``nested`` shares Gaussians across widths;
    ``lowrank`` computes SGD runs with :func:`measure_sgd_lowrank` (exact, faster). ``threads``:
    torch CPU threads during the check (restored after); 1 by default because the check is many
    small ops, which a second thread slows down several-fold on a busy machine; None keeps torch's.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UserError(f"threads must be a positive integer or None, got {threads!r}")
    with torch_threads(threads):
        return _run(
            p, widths, steps, seeds, optimizer, lr, d_in, d_out, batch, nonlinearity, loss, form, dtype, device,
            seed, nested, lowrank, base_tolerance, fit_from, progress, adam_c,
        )


def _run(
    p: Parametrization, widths: Sequence[int], steps: int, seeds: int, optimizer: str, lr: float, d_in: int,
    d_out: int, batch: int, nonlinearity: str, loss: str | None, form: str, dtype: torch.dtype, device: Any,
    seed: int, nested: bool, lowrank: bool, base_tolerance: float, fit_from: int | None,
    progress: Callable[[str], None] | None,
    adam_c: Sequence[Any] | None = None,
) -> CoordCheck:
    from infwidth.networks.practical import PracticalMLP, form_scales

    widths = _check_inputs(widths, steps, seeds, lr)
    opt = str(optimizer).lower()
    if opt not in ("sgd", "adam"):
        raise UserError(f"unknown optimizer {optimizer!r}; choose sgd or adam")
    if form not in ("abc", "practical"):
        raise UserError(f"unknown form {form!r}; choose abc or practical")
    if adam_c is not None:
        from infwidth.parametrizations.abc import to_fraction

        if opt != "adam":
            raise UserError("explicit Adam exponents need optimizer adam; add --optimizer adam or drop --adam-c")
        if form != "abc":
            raise UserError("explicit Adam exponents are supported in the abc form only; drop --form practical")
        adam_c = tuple(to_fraction(x, f"Adam exponent c_{i + 1}") for i, x in enumerate(adam_c))
        if len(adam_c) != p.depth + 1:
            raise UserError(f"got {len(adam_c)} Adam exponents for depth {p.depth}; give one per layer (L+1 = {p.depth + 1})")
    loss = loss or ("xent" if d_out > 1 else "mse")
    if loss not in ("xent", "mse"):
        raise UserError(f"unknown loss {loss!r}; choose xent or mse")
    device = torch.device(device)
    names = quantity_names(p.depth)
    sizes = np.full((len(widths), seeds, steps + 1, len(names)), np.nan)
    divergences: list[Divergence] = []
    nmax = widths[-1]
    dims = _shapes(nmax, d_in, d_out, p.depth)
    cls = AbcMLP if form == "abc" else PracticalMLP
    phi_fn = resolve_nonlinearity(nonlinearity)
    for s in range(seeds):
        run_seed = seed + s
        gen = torch.Generator(device="cpu").manual_seed(10_000 + run_seed)
        x = torch.randn(batch, d_in, generator=gen, dtype=dtype).to(device)
        if loss == "xent":
            y = torch.randint(0, d_out, (batch,), generator=gen).to(device)
        else:
            y = torch.randn(batch, d_out, generator=gen, dtype=dtype).to(device)
        fast = opt == "sgd" and lowrank and nested and device.type == "cpu"
        first_rank = min(d_in, batch) if fast else None
        noise = _NestedNoise(run_seed, dims, dtype, first_rank) if nested else None
        for i, n in enumerate(widths):
            if progress:
                progress(f"seed {run_seed} width {n}")
            if fast:
                # no module needed: the nested Gaussians' top-left blocks are the init directly
                assert noise is not None
                scales, _ = form_scales(p, n, d_in, form)
                zs = [noise(k, shape) for k, shape in enumerate(_shapes(n, d_in, d_out, p.depth), 1) if k > 1]
                stds = [sc.init_std for sc in scales]
                sizes[i, s], div = _lowrank_sgd(
                    [None, *zs], scales, phi_fn, x, y, lr, steps, loss, init_factor=stds,  # type: ignore[list-item]
                    first_image=_first_layer_image(x, noise, n),
                )
            elif opt == "sgd" and lowrank:
                net = cls(p, n, d_in, d_out, nonlinearity=nonlinearity, dtype=dtype, device=device, seed=run_seed * 7919 + n, noise=noise)
                sizes[i, s], div = measure_sgd_lowrank(net, x, y, lr, steps, loss)
            else:
                net = cls(p, n, d_in, d_out, nonlinearity=nonlinearity, dtype=dtype, device=device, seed=run_seed * 7919 + n, noise=noise)
                if opt == "sgd":
                    optim = net.sgd(lr)
                elif adam_c is not None:
                    optim = net.adam(lr, exponents=adam_c)  # type: ignore[call-arg]
                else:
                    optim = net.adam(lr)
                sizes[i, s], div = measure(net, x, y, optim, steps, loss)
            if div is not None:
                divergences.append(Divergence(n, run_seed, div[0], div[1]))
    config = {
        "widths": widths, "steps": steps, "seeds": seeds, "seed": seed, "optimizer": opt, "lr": lr,
        "d_in": d_in, "d_out": d_out, "batch": batch, "nonlinearity": nonlinearity, "loss": loss,
        "form": form, "adam_c": None if adam_c is None else [str(c) for c in adam_c],
        "dtype": str(dtype).replace("torch.", ""), "nested_init": nested, "lowrank_sgd": lowrank, "fit_from": fit_from,
    }
    if opt == "adam" and adam_c is None:
        adam_c = abc_adam_exponents(p)
    return CoordCheck(
        parametrization=p, widths=widths, seeds=[seed + s for s in range(seeds)], steps=steps, optimizer=opt, lr=lr,
        sizes=sizes, names=names, predicted=predicted_sizes(p, steps, opt, adam_c, nonlinearity), divergences=divergences,
        config=config, base_tolerance=base_tolerance, fit_from=fit_from,
    )


# ---- plots -------------------------------------------------------------------------------------
def draw_sizes(ax: Any, cc: CoordCheck, step: int, quantities: Sequence[str], alpha: float = 0.7) -> None:
    """On ``ax`` (log-log): mean RMS of each quantity at ``step`` vs width, its predicted slope dashed."""
    from infwidth.plotting import plt

    widths = np.asarray(cc.widths, dtype=float)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(quantities)))
    for q, col in zip(quantities, colors, strict=True):
        ys = cc.mean_sizes(q, step)
        ok = np.isfinite(ys) & (ys > 0)
        ax.plot(widths[ok], ys[ok], "o-", color=col, ms=3, label="Δ" + q[1:] if q.startswith("d") else q)
        pred = cc.predicted.get((step, q))
        if pred is not None and ok.any():
            wm, ym = np.exp(np.log(widths[ok]).mean()), np.exp(np.log(ys[ok]).mean())
            ax.plot(widths[ok], ym * (widths[ok] / wm) ** float(pred), "--", color=col, lw=0.9, alpha=alpha)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")


def plot_coordcheck(cc: CoordCheck, out: str | Path, prefix: str = "coordcheck") -> list[Path]:
    """PNG per family (x, h, dx, dh): one panel per step, one curve per layer (+ f), log-log axes,
    each curve's predicted slope drawn dashed beside it."""
    from infwidth.plotting import plt, save_figure

    out = Path(out)
    paths = []
    title = cc.parametrization.name or "abc"
    families = [("x", "x^l", False), ("dx", "Delta x^l", True), ("h", "h^l", False), ("dh", "Delta h^l", True)]
    for fam, label, is_delta in families:
        steps = list(range(1 if is_delta else 0, cc.steps + 1))
        fig, axes = plt.subplots(1, len(steps), figsize=(3.3 * len(steps), 3.2), sharey=True, squeeze=False)
        layer_qs = [f"{fam}{k}" for k in range(1, cc.parametrization.depth + 1)] + ["df" if is_delta else "f"]
        for ax, t in zip(axes[0], steps, strict=True):
            draw_sizes(ax, cc, t, layer_qs)
            ax.set_title(f"step {t}")
            ax.set_xlabel("width")
        axes[0][0].set_ylabel(f"RMS of {label}")
        axes[0][-1].legend(fontsize=7, loc="best")
        fig.suptitle(f"{title} ({cc.optimizer}): RMS {label} vs width (dashed: predicted slope)", fontsize=9)
        paths.append(save_figure(fig, out / f"{prefix}_{fam}.png"))
    return paths


def format_table(cc: CoordCheck, deltas_only: bool = False) -> str:
    """Plain-text table of the verdicts (step, quantity, fitted, predicted, tolerance, status)."""
    lines = [f"{'step':>4}  {'quantity':<8} {'fitted':>8} {'predicted':>9} {'tol':>6}  status"]
    for r in cc.rows():
        if deltas_only and not r.quantity.startswith("d"):
            continue
        fitted = "-" if r.fitted is None else f"{r.fitted:+.3f}"
        pred = "-" if r.predicted is None else str(r.predicted)
        tol = "-" if r.tolerance is None else f"{r.tolerance:.3f}"
        lines.append(f"{r.step:>4}  {r.quantity:<8} {fitted:>8} {pred:>9} {tol:>6}  {r.status}")
    return "\n".join(lines)
