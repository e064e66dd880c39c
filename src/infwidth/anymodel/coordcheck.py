"""Coordinate check of any parametrized model, with a verdict per module.

Forward hooks (:func:`infwidth.coordcheck.measure`) record the RMS of every module's output and of
its change since step 0, over a few optimizer steps on one batch, at several widths; the shared
fitter gives the log-log slope against width; each module's slope is compared with the exponent
the classification predicts for its kind (:func:`module_kinds`):

* ``input`` (embeddings, first layer) -> ``h^1`` of the role-level MLP;
* ``hidden`` (every other width-sized output: attention, MLP, residual stream) -> ``h^L``;
* ``norm`` (LayerNorm & co.) -> ``h^L`` where that does not grow; where it grows, the normalization caps
  it at Theta(1) only past a crossover width, so that slope is not predicted;
* ``output`` (the readout module: logits) -> ``f``; when a normalization feeds it (pre-LN Transformers),
  its one-step change with that normalized input capped at Theta(1).

A row *matches* when ``|fitted - predicted| <= tolerance``; it *grows* when its fitted slope exceeds
the tolerance (coordinates blowing up with width). A row passes when it matches and does not grow,
so a stable parametrization (muP) passes and SP fails exactly at the modules its classification
predicts to blow up (``as_predicted`` stays true).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from infwidth.anymodel.apply import HOLDER, make_optimizer, parametrization_of, record_of
from infwidth.anymodel.gpt import GPTConfig, build_gpt
from infwidth.anymodel.roles import NORM_TYPES, Roles
from infwidth.coordcheck.measure import Divergence, measure
from infwidth.coordcheck.predict import predicted_sizes
from infwidth.coordcheck.report import BASE_TOLERANCE, INCONCLUSIVE, PASSING, CoordCheck
from infwidth.device import torch_threads
from infwidth.errors import UserError, check_int
from infwidth.parametrizations.abc import Parametrization, to_fraction
from infwidth.parametrizations.classify import adam_exponents, classify

KINDS = ("input", "hidden", "norm", "output")
MODELS = ("gpt",)


def _quantity(name: str) -> str:
    """A quantity name for a module (never starting with ``d``, which marks changes in the report)."""
    return name if not name.startswith("d") else "m." + name


def module_kinds(model: nn.Module, roles: Roles) -> dict[str, str]:
    """``module name -> kind`` for every module whose output is recorded (forward order of registration).

    A parameter-free module registered right after an input module (an MLP's first activation) is
    ``input`` too. Skipped: the root, containers without their own computation (``ModuleList``, ``ModuleDict``,
    ``Sequential``), the parametrization holder, and modules whose parameters are all ``finite``.
    """
    readouts = {t.readout_module for t in roles.tensors if t.role in ("output", "tied")}
    inputs = {t.module for t in roles.tensors if t.role in ("input", "embedding", "tied")}
    out: dict[str, str] = {}
    for name, mod in model.named_modules():
        if not name or name == HOLDER or isinstance(mod, nn.ModuleList | nn.ModuleDict | nn.Sequential):
            continue
        if name in readouts:
            out[name] = "output"
        elif name in inputs:
            out[name] = "input"
        elif isinstance(mod, NORM_TYPES):
            out[name] = "norm"
        elif out and list(out.values())[-1] == "input" and next(mod.parameters(), None) is None:
            out[name] = "input"  # a parameter-free module right after an input layer (its activation)
        else:
            out[name] = "hidden"
    return out


def module_predictions(
    p: Parametrization, kinds: Mapping[str, str], steps: int, optimizer: str = "sgd",
    adam_c: Sequence[Fraction] | None = None, phi: str = "gelu", tied: bool = False,
) -> dict[tuple[int, str], Fraction | None]:
    """Predicted exponent of every module's output size and change, per step (see the module doc)."""
    opt = "sgd" if optimizer == "sgd" else "adam"
    rates = None if opt == "sgd" else (tuple(adam_c) if adam_c is not None else adam_exponents(p))
    mlp = predicted_sizes(p, steps, opt, rates, phi)
    L = p.depth
    stable = classify(p, adam_c=rates).stable
    out: dict[tuple[int, str], Fraction | None] = {}
    order = list(kinds.items())
    # the readout reads a normalization's output (pre-LN Transformers): its input change is capped
    normalized_readout = any(k == "output" and i > 0 and order[i - 1][1] == "norm" for i, (_, k) in enumerate(order))

    for name, kind in kinds.items():
        q = _quantity(name)
        for t in range(steps + 1):
            src = {"input": "h1", "hidden": f"h{L}", "norm": f"h{L}", "output": "f"}[kind]
            size, change = mlp[(t, src)], (mlp[(t, "d" + src)] if t > 0 else None)
            if kind == "norm" and ((size is not None and size > 0) or (change is not None and change > 0)):
                # a normalization caps a growing input at Theta(1), but only once the growth beats the
                # input's O(1) part: the slope over a finite width range bends, so it is not predicted
                size, change = (size if size is None or size <= 0 else None), None
            if kind == "output" and normalized_readout and t == 1 and not stable and change is not None:
                # the readout sees a normalized (capped) input: Delta f = Delta W x + W Delta x
                dx = min(mlp[(1, f"dx{L}")], Fraction(0))
                a_out, alpha = p.a[-1], p.a[-1] + p.b[-1]
                coeff = -(p.c + 2 * a_out) if opt == "sgd" else -(a_out + rates[-1])  # type: ignore[index]
                change = max(coeff + 1 + max(Fraction(0), dx), 1 - alpha + dx)
                size = max(mlp[(0, "f")], change)
            if tied and not stable and kind in ("input", "output"):
                size = size if t == 0 else None
                change = None
            out[(t, q)] = size
            if t > 0:
                out[(t, "d" + q)] = change
    return out


@dataclass
class ModelCoordCheck:
    """A model coordinate check: the shared report plus the module kinds and the growth verdicts."""

    check: CoordCheck
    kinds: dict[str, str]
    label: str

    def rows(self) -> list[dict[str, Any]]:
        """Per module and step: fitted/predicted slope, matches_prediction, grows, pass."""
        out = []
        for r in self.check.rows():
            change = r.quantity.startswith("d")
            module = r.quantity[1:] if change else r.quantity
            module = module[2:] if module.startswith("m.") else module
            tol = self.check.base_tolerance + 3.0 * (r.stderr or 0.0)
            grows = r.fitted is not None and r.fitted > tol
            matches = r.status in (*PASSING, INCONCLUSIVE, "not tested (crossover)", "no prediction",
                                   "diverged (predicted growth)")
            d = r.as_dict() | {
                "module": module, "kind": self.kinds.get(module), "change": change,
                "matches_prediction": r.status not in ("fail", "diverged"), "grows": grows,
                "predicted_growth": r.predicted is not None and r.predicted > 0,
            }
            d["pass"] = bool(matches and r.status != "fail" and not grows and r.status != "diverged")
            d["verdict"] = "fail" if not d["pass"] else r.verdict
            out.append(d)
        return out

    @property
    def passed(self) -> bool:
        return all(r["pass"] for r in self.rows())

    def as_dict(self) -> dict[str, Any]:
        rows = self.rows()
        growing = sorted({r["module"] for r in rows if r["grows"]})
        predicted = sorted({r["module"] for r in rows if r["predicted_growth"]})
        base = self.check.as_dict()
        passed = all(r["pass"] for r in rows)
        open_ = [r for r in rows if r["verdict"] == INCONCLUSIVE]
        verdict = "fail" if not passed else INCONCLUSIVE if open_ else "pass"
        reason = base["reason"] if verdict == base["verdict"] else (
            "a module grows with width or misses its prediction" if verdict == "fail" else
            "every tested row matches its prediction and no module grows")
        return {
            "config": base["config"],
            "parametrization": base["parametrization"],
            "label": self.label,
            "passed": passed,
            "verdict": verdict,
            "reason": reason,
            "as_predicted": all(r["matches_prediction"] for r in rows),
            "tested": sum(r["status"] in (*PASSING, "fail", INCONCLUSIVE) for r in rows),
            "tolerance_rule": base["tolerance_rule"] + "; a row grows when its fitted slope exceeds that tolerance",
            "growing_modules": growing,
            "predicted_growing_modules": predicted,
            "quantities": rows,
            "divergences": base["divergences"],
            "sizes": base["sizes"],
        }


def format_rows(mc: ModelCoordCheck, changes_only: bool = True) -> str:
    """Plain-text verdicts: step, module, kind, fitted, predicted, status."""
    lines = [f"{'step':>4}  {'module':<26} {'kind':<7} {'fitted':>8} {'predicted':>9}  verdict"]
    for r in mc.rows():
        if changes_only and not r["change"]:
            continue
        fitted = "-" if r["fitted_slope"] is None else f"{r['fitted_slope']:+.3f}"
        pred = r["predicted_slope"] or "-"
        if r["pass"]:
            verdict = "pass"
        elif r["grows"] and r["predicted_slope"] is None:
            verdict = "grows (no prediction)"
        elif r["grows"]:
            verdict = "grows (predicted)" if r["matches_prediction"] else "grows (NOT predicted)"
        else:
            verdict = r["status"]
        label = ("Δ" if r["change"] else "") + r["module"]
        lines.append(f"{r['step']:>4}  {label:<26} {r['kind'] or '-':<7} {fitted:>8} {pred:>9}  {verdict}")
    return "\n".join(lines)


# ---- one model, then the report -------------------------------------------------------------------
def _xent(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(f.flatten(0, -2), y.flatten())


def measure_model(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, optimizer: str = "sgd", lr: float = 0.1,
    adam_c: Sequence[Any] | None = None, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, Any]:
    """One parametrized model trained ``steps`` steps on ``(x, y)``: RMS of every module's output and change.

    Returns a JSON-ready point: ``names`` (modules, then their changes), ``kinds``, ``sizes`` (one row per
    step, None where not finite), ``divergence`` (``{"step", "layer"}`` or None), ``parametrization``, ``tied``.
    """
    roles = Roles.from_dict(record_of(model)["roles"])
    kinds = module_kinds(model, roles)
    quantities = {_quantity(k): k for k in kinds}
    opt_kw: dict[str, Any] = {} if optimizer == "sgd" or adam_c is None else {"adam_c": adam_c}
    opt = make_optimizer(model, optimizer, lr, **opt_kw)
    sizes, div = measure(model, x, y, opt, steps, loss or _xent, quantities)
    return {
        "names": list(quantities) + ["d" + q for q in quantities],
        "kinds": kinds,
        "sizes": [[float(v) if np.isfinite(v) else None for v in row] for row in sizes],
        "divergence": None if div is None else {"step": int(div[0]), "layer": div[1]},
        "parametrization": parametrization_of(model).as_dict(),
        "tied": bool(roles.of("tied")),
    }


def assemble(
    points: Sequence[dict[str, Any]], *, steps: int, optimizer: str = "sgd", lr: float = 0.1,
    adam_c: Sequence[Any] | None = None, phi: str = "gelu", base_tolerance: float = BASE_TOLERANCE,
    config: Mapping[str, Any] | None = None,
) -> ModelCoordCheck:
    """The report from points (each with ``width`` and ``seed`` added; every width x seed once)."""
    widths = sorted({int(pt["width"]) for pt in points})
    seeds = sorted({int(pt["seed"]) for pt in points})
    if len(widths) < 2:
        raise UserError(f"need points at >= 2 widths to fit a slope, got {widths}")
    first = points[0]
    names, kinds = first["names"], first["kinds"]
    d = first["parametrization"]
    p = Parametrization(a=tuple(d["a"]), b=tuple(d["b"]), c=d["c"], sigma=tuple(d["sigma"]), name=d["name"])
    sizes = np.full((len(widths), len(seeds), steps + 1, len(names)), np.nan)
    divergences = []
    for pt in points:
        i, j = widths.index(int(pt["width"])), seeds.index(int(pt["seed"]))
        sizes[i, j] = np.array([[np.nan if v is None else v for v in row] for row in pt["sizes"]], dtype=float)
        if pt["divergence"] is not None:
            divergences.append(Divergence(int(pt["width"]), int(pt["seed"]), pt["divergence"]["step"], pt["divergence"]["layer"]))
    rates = None if adam_c is None else tuple(to_fraction(v) for v in adam_c)
    predicted = module_predictions(p, kinds, steps, optimizer, rates, phi, first["tied"])
    cc = CoordCheck(
        parametrization=p, widths=widths, seeds=seeds, steps=steps, optimizer=optimizer, lr=lr, sizes=sizes,
        names=names, predicted=predicted, divergences=divergences, config=dict(config or {}), base_tolerance=base_tolerance,
    )
    return ModelCoordCheck(cc, kinds, p.name or "abc")


def check_model(
    build: Callable[[int, int], nn.Module],
    widths: Sequence[int],
    data: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    *,
    steps: int = 3,
    seeds: int = 3,
    seed: int = 0,
    optimizer: str = "sgd",
    lr: float = 0.1,
    adam_c: Sequence[Any] | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    phi: str = "gelu",
    base_tolerance: float = BASE_TOLERANCE,
    config: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelCoordCheck:
    """Coordinate check of any model: ``build(width, seed)`` (parametrized) trained on ``data(seed)``.

    ``loss(output, target)`` defaults to cross-entropy over the last dim (any leading dims).
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
        raise UserError(f"need at least 2 increasing `widths`, got {widths}; e.g. 32, 64, 128, 256")
    check_int(steps, "steps")
    check_int(seeds, "seeds")
    points = []
    for s in range(seed, seed + seeds):
        x, y = data(s)
        for n in widths:
            if progress:
                progress(f"seed {s} width {n}")
            pt = measure_model(build(n, s), x, y, steps=steps, optimizer=optimizer, lr=lr, adam_c=adam_c, loss=loss)
            points.append(pt | {"width": n, "seed": s})
    return assemble(points, steps=steps, optimizer=optimizer, lr=lr, adam_c=adam_c, phi=phi,
                    base_tolerance=base_tolerance, config=config)


# ---- the GPT's check -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GPTCoordCheckConfig:
    """The GPT coordinate check: widths are ``d_model``; one batch of Wikipedia characters per seed."""

    preset: str = "mup"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    steps: int = 3
    seeds: int = 3
    seed: int = 0
    optimizer: str = "sgd"
    lr: float | None = None
    adam_c: tuple[str, ...] | None = None
    n_layer: int = 2
    n_head: int = 4
    block_size: int = 16
    batch: int = 8
    tied: bool = False
    base_tolerance: float = 0.15
    device: str = "cpu"
    c: str | None = None
    s: str | None = None

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        object.__setattr__(self, "widths", widths)
        if len(set(widths)) < 2:  # checked here, before any run, as CoordCheckConfig does for the MLP
            raise UserError(f"need at least 2 widths to fit a slope, got {list(widths)}; pass e.g. `widths=(64, 128, 256)`")
        if self.optimizer not in ("sgd", "adam"):
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose sgd or adam")
        for w in widths:
            if w % self.n_head:
                raise UserError(f"width {w} is not a multiple of the number of heads ({self.n_head}); pick `widths` divisible by it")
        for what in ("steps", "seeds", "n_layer", "n_head", "block_size", "batch"):
            check_int(getattr(self, what), what)

    @property
    def rate(self) -> float:
        return self.lr if self.lr is not None else (0.1 if self.optimizer == "sgd" else 0.01)

    def model_config(self, width: int) -> GPTConfig:
        from infwidth.anymodel.train import VOCAB

        return GPTConfig(vocab_size=len(VOCAB), block_size=self.block_size, n_layer=self.n_layer, n_head=self.n_head,
                         d_model=width, tied=self.tied)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["lr"] = self.rate
        return d


def gpt_point(config: GPTCoordCheckConfig, width: int, seed: int) -> dict[str, Any]:
    """One width x seed of the GPT's check: a JSON-ready point (see :func:`measure_model`)."""
    from infwidth.anymodel.train import batches, char_corpus

    x, y = batches(char_corpus(200_000), config.batch, config.block_size, torch.Generator().manual_seed(20_000 + seed))
    model = build_gpt(config.model_config(width), config.preset, seed=seed, device=config.device, c=config.c, s=config.s)
    pt = measure_model(model, x.to(config.device), y.to(config.device), steps=config.steps, optimizer=config.optimizer,
                       lr=config.rate, adam_c=config.adam_c)
    return pt | {"width": int(width), "seed": int(seed)}


def gpt_coordcheck(config: GPTCoordCheckConfig, progress: Callable[[str], None] | None = None, threads: int | None = 1) -> ModelCoordCheck:
    """The harness: :func:`gpt_point` for every seed and width, then the report."""
    points = []
    with torch_threads(threads):
        for s in range(config.seed, config.seed + config.seeds):
            for n in config.widths:
                if progress:
                    progress(f"seed {s} width {n}")
                points.append(gpt_point(config, n, s))
    return assemble(points, steps=config.steps, optimizer=config.optimizer, lr=config.rate, adam_c=config.adam_c,
                    base_tolerance=config.base_tolerance, config=config.as_dict())


def plot_model_coordcheck(mc: ModelCoordCheck, out: str | Path, prefix: str = "coordcheck") -> list[Path]:
    """Two PNGs (sizes, changes): one panel per step, one curve per module kind's modules, predicted slopes dashed."""
    from infwidth.coordcheck.plot import draw_sizes
    from infwidth.plotting import plt, save_figure

    cc = mc.check
    paths = []
    qs = [q for q in cc.names if not q.startswith("d")]
    for fam, label, change in (("sizes", "module output", False), ("changes", "change of module output", True)):
        steps = list(range(1 if change else 0, cc.steps + 1))
        fig, axes = plt.subplots(1, len(steps), figsize=(3.6 * len(steps), 3.4), sharey=True, squeeze=False)
        for ax, t in zip(axes[0], steps, strict=True):
            draw_sizes(ax, cc, t, ["d" + q for q in qs] if change else qs, alpha=0.5)
            ax.set_title(f"step {t}")
            ax.set_xlabel("width")
        axes[0][0].set_ylabel(f"RMS of {label}")
        axes[0][-1].legend(fontsize=5, loc="best", ncol=2)
        fig.suptitle(f"{mc.label} ({cc.optimizer}): RMS {label} vs width (dashed: predicted slope)", fontsize=9)
        paths.append(save_figure(fig, Path(out) / f"{prefix}_{fam}.png"))
    return paths


__all__ = [
    "KINDS",
    "MODELS",
    "GPTCoordCheckConfig",
    "ModelCoordCheck",
    "assemble",
    "check_model",
    "format_rows",
    "gpt_coordcheck",
    "gpt_point",
    "measure_model",
    "module_kinds",
    "module_predictions",
    "plot_model_coordcheck",
]
