"""Roles: which dimensions of each parameter grow with width, and what kind of tensor each one is.

Width dimensions come from two instances of the same model at different widths (``base`` and
``delta``: the dimensions whose sizes differ), or from explicit annotations. A tensor's *fan-in*
and *fan-out* dimensions come from its module (``nn.Linear`` weight ``(out, in)``, ``nn.Embedding``
``(index, out)``, convolutions ``(out, in, *kernel)``, ``transformers``' ``Conv1D`` ``(in, out)``).
Then, as in Tensor Programs IV/V (the paper's section 3 and its Transformer appendix):

* ``input``  -- finite fan-in, width fan-out (first layer, position embeddings): layer 1 of the MLP;
* ``embedding`` -- an ``nn.Embedding`` table: an input weight whose fan-in is a one-hot index;
* ``hidden`` -- width fan-in and fan-out (Q, K, V, attention output, MLP up and down): layers 2..L;
* ``output`` -- width fan-in, finite fan-out (unembedding, classifier): the readout, layer L+1;
* ``tied``   -- one matrix used as embedding and as readout: input role for its rate and init, the
  readout's multiplier on the output side;
* ``vector`` -- width-sized vectors (biases, LayerNorm gains and biases): like input weights;
* ``finite`` -- no width dimension: left as the model made it (width-independent).

Modules with integer ``head_dim`` and float ``scaling`` attributes (infwidth's GPT, ``transformers``'
GPT-2 attention) are *attention* modules: their logits ``q.k * scaling`` get the parametrization's
``1/d_head`` (muP) or ``1/sqrt(d_head)`` scaling.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from infwidth.errors import UserError

ROLES = ("input", "embedding", "hidden", "output", "tied", "vector", "finite")
#: The role names an annotation may give (``tied`` comes from shared parameters, never annotated).
ANNOTATABLE = ("input", "embedding", "hidden", "output", "vector", "finite")
NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm) + (
    (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()
)


@dataclass(frozen=True)
class TensorRole:
    """One trained tensor: where it lives, which dims are width, its role and its width size ``n``.

    ``n`` is the width the abc exponents refer to: the width fan-in of hidden and output weights,
    the width fan-out of input weights and embeddings, the length of a vector. ``finite_fan_in`` is
    the product of the fan-in dims that do not grow (the init divides by its square root).
    ``readout_module`` is the module whose output carries the readout multiplier (output, tied,
    and the bias of an output module).
    """

    name: str
    module: str
    module_type: str
    shape: tuple[int, ...]
    width_dims: tuple[int, ...]
    fan_in_dims: tuple[int, ...]
    role: str
    n: int
    finite_fan_in: int
    readout_module: str | None = None
    tied_with: str | None = None
    norm_gain: bool = False  # weight or bias of a normalization layer: initialized to 1 / 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "module_type": self.module_type, "shape": list(self.shape),
            "width_dims": list(self.width_dims), "fan_in_dims": list(self.fan_in_dims), "role": self.role,
            "n": self.n, "finite_fan_in": self.finite_fan_in, "readout_module": self.readout_module,
            "tied_with": self.tied_with, "norm_gain": self.norm_gain,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorRole:
        return cls(
            name=d["name"], module=d["module"], module_type=d["module_type"], shape=tuple(d["shape"]),
            width_dims=tuple(d["width_dims"]), fan_in_dims=tuple(d["fan_in_dims"]), role=d["role"], n=int(d["n"]),
            finite_fan_in=int(d["finite_fan_in"]), readout_module=d.get("readout_module"),
            tied_with=d.get("tied_with"), norm_gain=bool(d.get("norm_gain", False)),
        )


@dataclass(frozen=True)
class AttentionRole:
    """An attention module: its logits are ``q.k * scaling`` over ``head_dim`` coordinates."""

    module: str
    head_dim: int
    width: bool  # does head_dim grow with width?


@dataclass(frozen=True)
class Roles:
    """The role of every parameter of a model (in ``named_parameters`` order) and its attention modules."""

    tensors: tuple[TensorRole, ...]
    attention: tuple[AttentionRole, ...] = ()

    def __getitem__(self, name: str) -> TensorRole:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def of(self, role: str) -> list[TensorRole]:
        """Every tensor with ``role``."""
        return [t for t in self.tensors if t.role == role]

    @property
    def has_hidden(self) -> bool:
        return any(t.role == "hidden" for t in self.tensors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tensors": [t.as_dict() for t in self.tensors],
            "attention": [{"module": a.module, "head_dim": a.head_dim, "width": a.width} for a in self.attention],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Roles:
        return cls(
            tuple(TensorRole.from_dict(t) for t in d["tensors"]),
            tuple(AttentionRole(a["module"], int(a["head_dim"]), bool(a["width"])) for a in d.get("attention", [])),
        )

    def table(self) -> str:
        """Plain-text table: name, shape, width dims, role, n."""
        head = f"{'parameter':<34} {'shape':<16} {'width dims':<10} {'role':<9} {'n':>6}  note"
        lines = [head, "-" * len(head)]
        for t in self.tensors:
            note = []
            if t.tied_with:
                note.append(f"tied with {t.tied_with}")
            if t.readout_module and t.role in ("output", "tied", "vector"):
                note.append(f"readout multiplier on {t.readout_module}")
            if t.norm_gain:
                note.append("normalization gain")
            dims = ",".join(map(str, t.width_dims)) or "-"
            shape = "x".join(map(str, t.shape))
            lines.append(f"{t.name:<34} {shape:<16} {dims:<10} {t.role:<9} {t.n:>6}  {'; '.join(note)}")
        for a in self.attention:
            lines.append(f"{a.module + ' (logits)':<34} {'':<16} {'':<10} {'attention':<9} {a.head_dim:>6}  q.k scaled by head_dim^-e")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


# ---- fan-in dims by module type -------------------------------------------------------------------
def _fan_in_dims(module: nn.Module, attr: str, ndim: int) -> tuple[int, ...] | None:
    """The fan-in dims of ``module.attr`` for the module types whose layout is known; None otherwise."""
    if ndim < 2:
        return ()
    if isinstance(module, nn.Linear | nn.Bilinear) or type(module).__name__ == "NonDynamicallyQuantizableLinear":
        return (1,) if ndim == 2 else None
    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        return (0,)
    if isinstance(module, nn.modules.conv._ConvNd):
        if getattr(module, "transposed", False):
            return (0,) + tuple(range(2, ndim))
        return tuple(range(1, ndim))
    if type(module).__name__ == "Conv1D" and ndim == 2:  # transformers' GPT-2 layer: x @ W, W is (in, out)
        return (0,)
    return None


def _owners(model: nn.Module) -> dict[int, list[tuple[str, str, nn.Module]]]:
    """Parameter id -> every (module name, attribute, module) registering it (ties appear twice)."""
    out: dict[int, list[tuple[str, str, nn.Module]]] = {}
    for mname, mod in model.named_modules(remove_duplicate=False):
        for attr, p in mod._parameters.items():
            if p is not None:
                entry = (mname, attr, mod)
                lst = out.setdefault(id(p), [])
                if all(e[0] != mname or e[1] != attr for e in lst):
                    lst.append(entry)
    return out


def _annotation(annotations: Mapping[str, str] | None, name: str) -> str | None:
    if not annotations:
        return None
    if name in annotations:
        return annotations[name]
    for pattern, role in annotations.items():
        if fnmatch.fnmatchcase(name, pattern):
            return role
    return None


def _shapes(model: nn.Module, what: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(model, nn.Module):
        raise UserError(f"{what} must be an nn.Module, got {type(model).__name__}; build it from the same code as the model")
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


def _width_dims(
    model: nn.Module, base: nn.Module, delta: nn.Module
) -> dict[str, tuple[int, ...]]:
    """Per parameter, the dims whose sizes differ between ``base`` and ``delta``; checks the three agree."""
    ms, bs, ds = _shapes(model, "model"), _shapes(base, "base"), _shapes(delta, "delta")
    for other, label in ((bs, "base"), (ds, "delta")):
        extra = [n for n in other if n not in ms]
        missing = [n for n in ms if n not in other]
        if extra or missing:
            which = f"{missing[0]!r} is missing from {label}" if missing else f"{label} has an extra parameter {extra[0]!r}"
            raise UserError(
                f"{label} does not have the model's parameters ({which}); build base and delta from the same code, "
                "changing only widths (not depth, vocabulary or options)"
            )
    out: dict[str, tuple[int, ...]] = {}
    direction = 0
    for name, shape in ms.items():
        b, d = bs[name], ds[name]
        if not (len(b) == len(d) == len(shape)):
            raise UserError(
                f"parameter {name!r} has {len(b)} dims in base, {len(d)} in delta and {len(shape)} in the model; "
                "widths may change sizes only, build the instances from the same code"
            )
        dims = tuple(i for i in range(len(shape)) if b[i] != d[i])
        for i in dims:
            sign = 1 if d[i] > b[i] else -1
            if direction and sign != direction:
                raise UserError(
                    f"parameter {name!r} dim {i} shrinks from base to delta while other width dims grow; "
                    "make every width of delta larger than base's (or every one smaller)"
                )
            direction = sign
        out[name] = dims
    if not any(out.values()):
        raise UserError(
            "base and delta do not differ in any dimension; build delta at another width (e.g. twice base's d_model)"
        )
    return out


def find_roles(
    model: nn.Module,
    base: nn.Module | None = None,
    delta: nn.Module | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Roles:
    """The role of every parameter of ``model``.

    Width dims: those whose sizes differ between ``base`` and ``delta`` (``delta`` defaults to
    ``model`` itself). ``annotations`` maps a parameter name or a glob pattern (``"blocks.*.w"``) to
    a role (one of ``ANNOTATABLE``): needed for parameters of custom modules whose fan-in layout is
    unknown, and enough on its own (no base/delta) when it covers every parameter of an unknown type.
    Base and delta may live on the ``meta`` device (only shapes are read).
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"find_roles needs an nn.Module, got {type(model).__name__}")
    if annotations is not None:
        for key, role in annotations.items():
            if role not in ANNOTATABLE:
                raise UserError(f"annotation {key!r}: unknown role {role!r}; choose one of {', '.join(ANNOTATABLE)}")
    if base is None and delta is not None:
        raise UserError("`delta` needs `base`; pass `base` (the model at another width) as well")
    widths = None if base is None else _width_dims(model, base, model if delta is None else delta)
    if widths is None and not annotations:
        raise UserError(
            "no width information; pass base= (and delta=) instances at other widths, or annotations={name: role}"
        )
    owners = _owners(model)
    modules = dict(model.named_modules())
    tensors: list[TensorRole] = []
    for name, param in model.named_parameters():
        places = owners[id(param)]
        mname, attr, mod = places[0]
        ndim = param.ndim
        shape = tuple(param.shape)
        note = _annotation(annotations, name)
        fan_in = _fan_in_dims(mod, attr, ndim)
        norm_gain = isinstance(mod, NORM_TYPES)
        if ndim <= 1 or attr == "bias":
            fan_in = ()
        if note is not None:
            role, dims = _role_from_annotation(name, note, shape, widths, fan_in)
            if fan_in is None:
                fan_in = (1,) if ndim >= 2 else ()  # unknown type: the (out, in) layout of nn.Linear
        else:
            if widths is None:
                raise UserError(
                    f"parameter {name!r} has no annotation and no base/delta to find its width dims; "
                    f"add annotations={{{name!r}: ROLE}} or pass base= and delta="
                )
            dims = widths[name]
            if not dims:
                role = "finite"
            elif ndim <= 1 or attr == "bias":
                role = "vector"
            elif fan_in is None:
                raise UserError(
                    f"cannot place parameter {name!r} ({type(mod).__name__}.{attr}, shape {list(shape)}): its fan-in dims "
                    f"are unknown; annotate it, e.g. find_roles(..., annotations={{{name!r}: 'hidden'}})"
                )
            else:
                wide_in = any(i in dims for i in fan_in)
                wide_out = any(i not in fan_in for i in dims)
                if wide_in and wide_out:
                    role = "hidden"
                elif wide_out:
                    role = "embedding" if isinstance(mod, nn.Embedding | nn.EmbeddingBag) else "input"
                else:
                    role = "output"
        tensors.append(_tensor_role(name, mname, mod, shape, dims, fan_in or (), role, norm_gain and role == "vector"))
    tensors = _resolve_ties(model, tensors, owners, modules)
    tensors = _readout_biases(tensors)
    return Roles(tuple(tensors), _attention(model, widths))


def _role_from_annotation(
    name: str, role: str, shape: tuple[int, ...], widths: dict[str, tuple[int, ...]] | None, fan_in: tuple[int, ...] | None
) -> tuple[str, tuple[int, ...]]:
    """Role and width dims of an annotated tensor (dims from base/delta when given, else from the role)."""
    ndim = len(shape)
    if widths is not None:
        return role, widths[name]
    if role == "finite":
        return role, ()
    if role == "vector" or ndim <= 1:
        if ndim != 1:
            raise UserError(f"parameter {name!r} annotated 'vector' has shape {list(shape)}; vectors are 1-D, annotate it with a matrix role")
        return "vector", (0,)
    fi = fan_in if fan_in is not None else (1,)
    fo = tuple(i for i in range(ndim) if i not in fi)
    if role == "hidden":
        return role, tuple(sorted(set(fi[:1] + fo[:1])))
    if role in ("input", "embedding"):
        return role, fo[:1]
    return role, fi[:1]  # output


def _tensor_role(
    name: str, mname: str, mod: nn.Module, shape: tuple[int, ...], dims: tuple[int, ...], fan_in: tuple[int, ...],
    role: str, norm_gain: bool,
) -> TensorRole:
    if role in ("hidden", "output"):
        n = math.prod(shape[i] for i in fan_in if i in dims)
    elif role in ("input", "embedding"):
        n = math.prod(shape[i] for i in range(len(shape)) if i in dims and i not in fan_in)
    elif role == "vector":
        n = math.prod(shape[i] for i in dims)
    else:
        n = 1
    finite = math.prod(shape[i] for i in fan_in if i not in dims) if fan_in else 1
    if role == "embedding":
        finite = 1  # a one-hot index: fan-in 1
    readout = mname if role == "output" else None
    return TensorRole(name, mname, type(mod).__name__, shape, dims, fan_in, role, max(int(n), 1), int(finite), readout, None, norm_gain)


def _resolve_ties(
    model: nn.Module, tensors: list[TensorRole], owners: dict[int, list[tuple[str, str, nn.Module]]],
    modules: dict[str, nn.Module],
) -> list[TensorRole]:
    """A parameter registered twice, once as embedding/input and once as an output weight: role ``tied``."""
    params = dict(model.named_parameters())
    out = []
    for t in tensors:
        places = owners[id(params[t.name])]
        if len(places) < 2:
            out.append(t)
            continue
        readouts = []
        for mname, attr, mod in places[1:]:
            fi = _fan_in_dims(mod, attr, len(t.shape))
            if fi is None or not t.width_dims:
                continue
            if all(i in t.width_dims for i in fi) and any(i not in fi for i in range(len(t.shape))):
                readouts.append(f"{mname}.{attr}" if mname else attr)
                readout_module = mname
        if t.role in ("embedding", "input") and readouts:
            out.append(TensorRole(
                t.name, t.module, t.module_type, t.shape, t.width_dims, t.fan_in_dims, "tied", t.n, t.finite_fan_in,
                readout_module, readouts[0], False,
            ))
        elif t.role == "output" and len(places) >= 2:
            raise UserError(
                f"parameter {t.name!r} is shared by {', '.join(p[0] for p in places)} but registered first as a readout; "
                "register the embedding first (tie lm_head.weight = wte.weight, not the reverse)"
            )
        else:
            out.append(t)
    return out


def _readout_biases(tensors: list[TensorRole]) -> list[TensorRole]:
    """The bias of an output module shares the readout's multiplier (see :mod:`.apply`)."""
    readouts = {t.module: t.n for t in tensors if t.role == "output"}
    out = []
    for t in tensors:
        if t.role in ("vector", "finite") and t.module in readouts and t.name.endswith("bias"):
            # its width is the readout's fan-in (a bias is a readout weight on one constant unit)
            t = TensorRole(t.name, t.module, t.module_type, t.shape, t.width_dims, t.fan_in_dims, "vector",
                           readouts[t.module], 1, t.module, None, False)
        out.append(t)
    return out


def _attention(model: nn.Module, widths: dict[str, tuple[int, ...]] | None) -> tuple[AttentionRole, ...]:
    out = []
    for mname, mod in model.named_modules():
        head_dim, scaling = getattr(mod, "head_dim", None), getattr(mod, "scaling", None)
        if isinstance(head_dim, int) and not isinstance(head_dim, bool) and isinstance(scaling, float):
            out.append(AttentionRole(mname, head_dim, True))
    return tuple(out)
