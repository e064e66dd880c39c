"""Apply an abc-parametrization to any ``nn.Module`` from its roles; optimizer groups; checkpoints.

Every tensor gets the exponents of its MLP layer (the paper's section 3): input weights,
embeddings, vectors and the tied matrix those of layer 1, hidden weights those of layers 2..L
(all equal), output weights those of the readout L+1. It is applied in the *practical form*: the
per-tensor symmetry ``(a, b, c, c_adam) -> (a + theta, b - theta, c - 2 theta, c_adam - theta)``
(Adam's epsilon times ``n^-theta``) moves every multiplier to 1 except the readout's,
``n^-(a_{L+1} + b_{L+1})``, which a forward hook applies to the readout module's output. The same
function is computed at every SGD/Adam step as in the abc form. Each tensor is re-initialized
``N(0, std^2)`` from one seeded generator (normalization gains to 1 and 0; ``finite`` tensors are
left alone); attention modules get ``scaling = head_dim^-e``. Learning rates are factors on ordinary
torch param groups (:func:`param_groups`), so any optimizer, scheduler, clipping or weight decay works.

The whole record travels in ``model.state_dict()`` under ``infwidth._extra_state``; a root
load-state-dict pre-hook checks it is there (one-line error otherwise) and re-installs the hooks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from infwidth.anymodel.roles import Roles, find_roles
from infwidth.errors import UserError
from infwidth.networks.mlp import (
    TensorExponents,
    TensorScale,
    gradient_exponents,
    readout_bias_exponents,
    tensor_scale,
)
from infwidth.parametrizations.abc import Parametrization, preset, to_fraction
from infwidth.parametrizations.classify import adam_exponents, classify

HOLDER = "infwidth"
STATE_KEY = f"{HOLDER}._extra_state"
FORMAT = "infwidth.anymodel/1"
MODEL_PRESETS = ("mup", "sp", "ntp", "up")
HALF = Fraction(1, 2)


# ---- the parametrization for a role structure ------------------------------------------------------
def model_parametrization(
    parametrization: str | Parametrization, roles: Roles, *, c: Any = None, s: Any = None
) -> Parametrization:
    """The abc-parametrization of the model's role structure: depth 2 with hidden weights, else 1.

    ``parametrization`` is a preset name (``mup``, ``sp``, ``ntp``, ``up`` with ``s``; ``c``
    overrides the SGD exponent) or an explicit :class:`Parametrization` whose hidden layers 2..L all
    share their exponents and init constant (they are one role here).
    """
    depth = 2 if roles.has_hidden else 1
    if isinstance(parametrization, str):
        key = parametrization.strip().lower()
        if key not in MODEL_PRESETS:
            raise UserError(f"unknown preset {parametrization!r} for a model; choose one of {', '.join(MODEL_PRESETS)}")
        return preset(key, depth, c=c, s=s)
    if not isinstance(parametrization, Parametrization):
        raise UserError(
            f"parametrization must be a preset name or a Parametrization, got {type(parametrization).__name__}; "
            "e.g. 'mup' or infwidth.parametrizations.from_exponents(...)"
        )
    p = parametrization
    if c is not None or s is not None:
        raise UserError("`c` and `s` apply to preset names only; build the explicit Parametrization with them instead")
    hidden = roles.of("hidden")
    if hidden and p.depth < 2:
        raise UserError(
            f"the parametrization has no hidden layer (depth {p.depth}) but the model has hidden weights "
            f"(e.g. {hidden[0].name!r}); give exponents for depth >= 2"
        )
    if not hidden and p.depth > 1:
        raise UserError(
            f"the parametrization has {p.depth - 1} hidden layer(s) but the model has no hidden weight "
            "(no width-to-width tensor); give depth-1 exponents (a_1, a_2), (b_1, b_2)"
        )
    if p.depth > 2:
        mid = {(p.a[i], p.b[i], p.sigma[i]) for i in range(1, p.depth)}
        if len(mid) > 1:
            raise UserError(
                f"hidden layers 2..{p.depth} have different exponents {sorted(map(str, p.a[1:-1]))}; every hidden "
                f"tensor (e.g. {hidden[0].name!r}) is one role: give them equal a_l, b_l and sigma_l"
            )
        p = Parametrization(a=(p.a[0], p.a[1], p.a[-1]), b=(p.b[0], p.b[1], p.b[-1]), c=p.c,
                            sigma=(p.sigma[0], p.sigma[1], p.sigma[-1]), name=p.name)
    return p


def attention_exponent(p: Parametrization) -> Fraction:
    """Exponent ``e`` of the attention scaling ``head_dim^-e``: ``1 - r`` (``r`` clipped to [0, 1/2]).

    After training ``q`` and ``k`` are correlated through their updates of size ``n^-r``, so ``q.k``
    over ``d`` coordinates has a coherent part ``~ d^(1-r)`` beside the ``d^(1/2)`` of independent
    vectors: ``e = 1 - r`` keeps the learned part Theta(1). muP (r = 0): ``1/d``; NTP, SP with
    lr ~ 1/n (r = 1/2): ``1/sqrt(d)``; UP_s: ``d^-(1-s)``. Unstable or trivial settings: ``1/2``.
    """
    cl = classify(p)
    if not cl.stable or cl.regime == "trivial":
        return HALF
    return 1 - min(max(cl.r, Fraction(0)), HALF)


@dataclass(frozen=True)
class TensorRule:
    """What the parametrization does to one tensor: exponents, practical shift, scales at its width."""

    name: str
    role: str
    layer: int  # 0-based MLP layer whose exponents it takes (0 input, 1 hidden, L readout)
    exponents: TensorExponents | None  # None: finite (left alone)
    theta: Fraction
    scale: TensorScale
    init: str  # "normal", "ones", "zeros", "drawn-zero" (zero readout) or "keep"

    def as_dict(self) -> dict[str, Any]:
        e = self.exponents
        return {
            "role": self.role, "layer": self.layer, "theta": str(self.theta), "init": self.init,
            "exponents": None if e is None else {"a": str(e.a), "b": str(e.b), "std": e.std, "adam_c": str(e.adam_c)},
            "multiplier": self.scale.multiplier, "init_std": self.scale.init_std, "sgd_lr": self.scale.sgd_lr,
            "adam_lr": self.scale.adam_lr, "adam_eps": self.scale.adam_eps,
        }


def tensor_rules(
    roles: Roles, p: Parametrization, *, bias_std: float = 0.0, zero_readout: bool = False
) -> list[TensorRule]:
    """The rule of every tensor under ``p`` (from :func:`model_parametrization`)."""
    L = p.depth
    adam_c = adam_exponents(p)
    g = gradient_exponents(p)
    mu = p.a[-1] + p.b[-1]  # the readout multiplier exponent in the practical form
    out = []
    unit = TensorScale(1.0, 1.0, 1.0, 1.0, 1.0)
    for t in roles.tensors:
        if t.role == "finite":
            out.append(TensorRule(t.name, t.role, 0, None, Fraction(0), unit, "keep"))
            continue
        if t.role in ("input", "embedding", "tied"):
            k = 0
            e = TensorExponents(p.a[0], p.b[0], p.sigma[0] / math.sqrt(t.finite_fan_in), adam_c[0])
            theta = -p.a[0]
            init = "normal"
        elif t.role == "hidden":
            k = 1
            e = TensorExponents(p.a[1], p.b[1], p.sigma[1] / math.sqrt(t.finite_fan_in), adam_c[1])
            theta = -p.a[1]
            init = "normal"
        elif t.role == "output":
            k = L
            e = TensorExponents(p.a[-1], p.b[-1], p.sigma[-1] / math.sqrt(t.finite_fan_in), adam_c[-1])
            theta = p.b[-1]
            init = "drawn-zero" if zero_readout else "normal"
        elif t.readout_module is not None:  # readout bias: readout_bias_exponents, the readout's multiplier
            k = L
            a, b = readout_bias_exponents(p)
            e = TensorExponents(a, b, bias_std, p.c + a + g[-1])
            theta = mu - a
            init = "drawn-zero" if zero_readout else "normal"
        else:  # vector: biases, normalization gains -- like input weights with fan-in 1
            k = 0
            e = TensorExponents(p.a[0], p.b[0], bias_std, p.c + p.a[0] + g[0])
            theta = -p.a[0]
            init = ("ones" if t.name.endswith("weight") else "zeros") if t.norm_gain else "normal"
        out.append(TensorRule(t.name, t.role, k, e, theta, tensor_scale(e, t.n, p.c, theta), init))
    return out


# ---- hooks and the state holder ----------------------------------------------------------------------
class ReadoutMultiplier:
    """Forward hook multiplying a readout module's output by ``n^-(a_{L+1}+b_{L+1})`` (picklable)."""

    def __init__(self, multiplier: float) -> None:
        self.multiplier = float(multiplier)

    def __call__(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output * self.multiplier


class LoadCheck:
    """Root load-state-dict pre-hook: the checkpoint must carry the parametrization; re-install it."""

    def __call__(self, module: nn.Module, state_dict: Mapping[str, Any], prefix: str, *_args: Any) -> None:
        key = prefix + STATE_KEY
        if key not in state_dict:
            raise UserError(
                f"checkpoint has no infwidth parametrization ({key!r} missing) but the model expects one; load a "
                "checkpoint saved from a parametrized model, or apply the parametrization to a model built without it"
            )
        record = state_dict[key]
        _check_record(record, module)
        install(module, record)


class ParametrizationState(nn.Module):
    """Holds the applied parametrization's record; it is the model's ``_extra_state`` entry."""

    def __init__(self, record: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.record = record

    def forward(self, x: Any) -> Any:
        """The identity: inside an ``nn.Sequential`` root the holder is one more (no-op) stage."""
        return x

    def get_extra_state(self) -> dict[str, Any] | None:
        return self.record

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.record = state

    def extra_repr(self) -> str:
        if not self.record:
            return "empty"
        return f"{self.record['label']}, attention exponent {self.record['attention_exponent']}"


def _check_record(record: Any, model: nn.Module) -> None:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UserError(f"{STATE_KEY} is not an infwidth parametrization record; save the checkpoint with this version of infwidth")
    shapes = {n: list(p.shape) for n, p in model.named_parameters()}
    for t in record["roles"]["tensors"]:
        if shapes.get(t["name"]) != t["shape"]:
            raise UserError(
                f"checkpoint parametrizes {t['name']!r} with shape {t['shape']} but the model's is "
                f"{shapes.get(t['name'])}; build the model with the checkpoint's config"
            )


def install(model: nn.Module, record: dict[str, Any]) -> None:
    """Set the holder, readout hooks and attention scalings of ``record`` on ``model`` (idempotent)."""
    modules = dict(model.named_modules())
    for name in list(record["multipliers"]) + list(record["attention"]):
        if name not in modules:
            raise UserError(f"the parametrization names module {name!r}, which the model lacks; build it with the same config")
    for mod in modules.values():
        for hid, hook in list(mod._forward_hooks.items()):
            if isinstance(hook, ReadoutMultiplier):
                del mod._forward_hooks[hid]
    for name, m in record["multipliers"].items():
        modules[name].register_forward_hook(ReadoutMultiplier(m))
    for name, scaling in record["attention"].items():
        modules[name].scaling = float(scaling)
    holder = getattr(model, HOLDER, None)
    if not isinstance(holder, ParametrizationState):
        model.add_module(HOLDER, ParametrizationState(record))
    else:
        holder.record = record
    if not any(isinstance(h, LoadCheck) for h in model._load_state_dict_pre_hooks.values()):
        model.register_load_state_dict_pre_hook(LoadCheck())


def record_of(model: nn.Module) -> dict[str, Any]:
    """The applied parametrization's record (unwraps DistributedDataParallel); one-line error if none."""
    inner = getattr(model, "module", None)
    if isinstance(inner, nn.Module) and not isinstance(getattr(model, HOLDER, None), ParametrizationState):
        model = inner
    holder = getattr(model, HOLDER, None)
    if not isinstance(holder, ParametrizationState) or not holder.record:
        raise UserError(
            f"{type(model).__name__} has no infwidth parametrization; call infwidth.anymodel.apply(model, roles, ...) first"
        )
    return holder.record


def roles_of(model: nn.Module) -> Roles:
    """The roles stored with the applied parametrization."""
    return Roles.from_dict(record_of(model)["roles"])


def parametrization_of(model: nn.Module) -> Parametrization:
    """The (role-level) abc-parametrization stored with the model."""
    d = record_of(model)["parametrization"]
    return Parametrization(a=tuple(d["a"]), b=tuple(d["b"]), c=d["c"], sigma=tuple(d["sigma"]), name=d["name"])


# ---- apply -----------------------------------------------------------------------------------------
def apply(
    model: nn.Module,
    roles: Roles | None = None,
    parametrization: str | Parametrization = "mup",
    *,
    base: nn.Module | None = None,
    delta: nn.Module | None = None,
    annotations: Mapping[str, str] | None = None,
    c: Any = None,
    s: Any = None,
    attention: Any = None,
    seed: int | None = 0,
    bias_std: float = 0.0,
    zero_readout: bool = False,
) -> dict[str, Any]:
    """Parametrize ``model`` in place: init, readout multiplier, attention scaling, rate factors.

    ``roles`` from :func:`find_roles` (or give ``base``/``delta``/``annotations`` to find them).
    ``attention`` overrides the attention exponent (default :func:`attention_exponent`).
    ``bias_std``: init std of biases (0: zeros); ``zero_readout``: readout initialized at 0.
    Everything is validated before the model is touched. Returns the record (also in state_dict).
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"apply needs an nn.Module, got {type(model).__name__}")
    if isinstance(getattr(model, HOLDER, None), ParametrizationState):
        raise UserError(f"{type(model).__name__} is already parametrized; build a fresh model to apply another parametrization")
    if roles is None:
        roles = find_roles(model, base, delta, annotations)
    elif not isinstance(roles, Roles):
        raise UserError(f"roles must come from find_roles, got {type(roles).__name__}")
    params = dict(model.named_parameters())
    names = [t.name for t in roles.tensors]
    if names != list(params) or any(tuple(params[t.name].shape) != t.shape for t in roles.tensors):
        raise UserError("the roles were found on another model (names or shapes differ); call find_roles on this model")
    if not (isinstance(bias_std, (int, float)) and not isinstance(bias_std, bool) and bias_std >= 0 and math.isfinite(bias_std)):
        raise UserError(f"bias_std must be a finite number >= 0, got {bias_std!r}")
    p = model_parametrization(parametrization, roles, c=c, s=s)
    e_attn = attention_exponent(p) if attention is None else to_fraction(attention, "attention exponent")
    if roles.attention and not 0 < e_attn <= 2:
        raise UserError(f"attention exponent must lie in (0, 2], got {e_attn}; 1 is muP's 1/d, 1/2 the usual 1/sqrt(d)")
    if roles.of("output") + roles.of("tied") == [] and p.depth >= 1:
        raise UserError(
            "the model has no output (readout) weight: no tensor maps width to a finite size; "
            "check base/delta or annotate the readout with annotations={name: 'output'}"
        )
    rules = tensor_rules(roles, p, bias_std=float(bias_std), zero_readout=zero_readout)
    multipliers: dict[str, float] = {}
    mu = p.a[-1] + p.b[-1]
    for t in roles.tensors:
        if t.role in ("output", "tied") and t.readout_module is not None:
            m = float(t.n) ** float(-mu)
            if multipliers.get(t.readout_module, m) != m:
                raise UserError(f"module {t.readout_module!r} holds readout weights of different widths; split it into one module per readout")
            multipliers[t.readout_module] = m
    scalings = {a.module: float(a.head_dim) ** float(-e_attn) for a in roles.attention}
    label = p.name or "abc"
    record = {
        "format": FORMAT,
        "label": label,
        "parametrization": p.as_dict(),
        "attention_exponent": str(e_attn),
        "roles": roles.as_dict(),
        "tensors": {r.name: r.as_dict() for r in rules},
        "multipliers": multipliers,
        "attention": scalings,
        "init": {"seed": seed, "bias_std": float(bias_std), "zero_readout": bool(zero_readout)},
    }
    # validation done: now change the model
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    with torch.no_grad():
        for r in rules:
            param = params[r.name]
            if r.init == "keep":
                continue
            if r.init == "ones":
                param.fill_(1.0)
            elif r.init == "zeros":
                param.zero_()
            elif r.init == "drawn-zero":  # zero readout: draw anyway, so other tensors keep their Gaussians
                torch.randn(param.shape, generator=gen, dtype=param.dtype)
                param.zero_()
            else:
                z = torch.randn(param.shape, generator=gen, dtype=param.dtype)
                param.copy_((z * r.scale.init_std).to(device=param.device, dtype=param.dtype))
    install(model, record)
    return record


def load_state_dict(model: nn.Module, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
    """Load a parametrized checkpoint into a model built without the parametrization (no setup rerun).

    The record in the checkpoint restores the readout multiplier, attention scaling and rate
    factors; a checkpoint without one is a one-line error.
    """
    if STATE_KEY not in state_dict:
        raise UserError(
            f"checkpoint has no infwidth parametrization ({STATE_KEY!r} missing); save it from a parametrized model "
            "(model.state_dict() after infwidth.anymodel.apply), or use model.load_state_dict for plain checkpoints"
        )
    _check_record(state_dict[STATE_KEY], model)
    install(model, state_dict[STATE_KEY])
    return model.load_state_dict(state_dict, strict=strict)


# ---- optimizers ------------------------------------------------------------------------------------
OPTIMIZERS = ("sgd", "adam", "adamw")


def param_groups(
    model: nn.Module,
    lr: float,
    optimizer: str = "adam",
    *,
    eps: float = 1e-8,
    adam_c: Sequence[Any] | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """Torch param groups with each tensor's rate ``lr * factor`` (and Adam's ``eps * factor``).

    ``optimizer``: ``sgd`` (rate ``lr n^-(c - 2 theta)``) or ``adam``/``adamw`` (``lr n^-(c_l - theta)``
    with the project's Adam exponents :func:`infwidth.parametrizations.adam_exponents`, or explicit
    per-layer ``adam_c``: one per MLP layer, e.g. ``(0, 0, 0)`` for one width-independent Adam rate).
    Tensors with equal factors share a group; ``extra`` (e.g. ``weight_decay``) goes into every group.
    """
    try:
        ok = float(lr) > 0 and math.isfinite(float(lr))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"learning rate must be a positive finite number, got {lr!r}")
    opt = str(optimizer).strip().lower()
    if opt not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}; choose sgd, adam or adamw (or pass these groups to any torch optimizer)")
    record = record_of(model)
    inner = getattr(model, "module", None)
    params = dict((inner if isinstance(inner, nn.Module) and not hasattr(model, HOLDER) else model).named_parameters())
    depth = record["parametrization"]["depth"]
    rates = None
    if adam_c is not None:
        if opt == "sgd":
            raise UserError("adam_c applies to adam/adamw only; drop it or choose optimizer='adam'")
        rates = [to_fraction(x, f"adam_c entry {i + 1}") for i, x in enumerate(adam_c)]
        if len(rates) != depth + 1:
            raise UserError(f"adam_c has {len(rates)} entries but the model's role structure has {depth + 1} layers "
                            f"({'input, hidden, output' if depth == 2 else 'input, output'}); give one per layer")
    roles = {t["name"]: t for t in record["roles"]["tensors"]}
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    for name, rule in record["tensors"].items():
        if opt == "sgd":
            factor, eps_factor = rule["sgd_lr"], 1.0
        else:
            factor, eps_factor = rule["adam_lr"], rule["adam_eps"]
            if rates is not None and rule["exponents"] is not None:
                n = roles[name]["n"]
                factor = float(n) ** float(-(rates[rule["layer"]] - Fraction(rule["theta"])))
        key = (factor, eps_factor)
        if key not in groups:
            group: dict[str, Any] = {"params": [], "names": [], "lr": float(lr) * factor}
            if opt != "sgd":
                group["eps"] = float(eps) * eps_factor
            group.update(extra)
            groups[key] = group
        groups[key]["params"].append(params[name])
        groups[key]["names"].append(name)
    return list(groups.values())


def make_optimizer(model: nn.Module, optimizer: str, lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    """``torch.optim.SGD``, ``Adam`` or ``AdamW`` over :func:`param_groups` (kwargs: eps, adam_c, momentum, ...)."""
    opt = str(optimizer).strip().lower()
    group_kw = {k: kwargs.pop(k) for k in ("eps", "adam_c") if k in kwargs}
    groups = param_groups(model, lr, opt, **group_kw)
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[opt]
    return cls(groups, lr=lr, **kwargs)
