"""The abc-parametrization of an MLP: per-layer exponents a_l (multiplier), b_l (init), global c (SGD).

``W^l = n^{-a_l} w^l``, ``w^l_ij ~ N(0, sigma_l^2 n^{-2 b_l})``, SGD ``w <- w - eta n^{-c} grad``.
Exponents are exact :class:`fractions.Fraction` values; layers are numbered 1..L+1 (readout last)
but stored 0-based in the tuples ``a`` and ``b``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from infwidth.errors import UserError, check_depth

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


Number = int | float | str | Fraction

PRESETS = ("sp", "ntp", "mfp", "mup", "up")


def to_fraction(value: Number, what: str = "value") -> Fraction:
    """Exact rational from ``1``, ``"1/2"``, ``"0.5"``, ``0.5`` or a Fraction; one-line error otherwise."""
    if isinstance(value, bool):
        raise UserError(f"{what} must be a number, got {value!r}; write e.g. 1/2 or 0.5")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):  # int, numpy integers
        return Fraction(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UserError(f"{what} must be finite, got {value!r}; write e.g. 1/2 or 0.5")
        return Fraction(value)
    if isinstance(value, numbers.Real):  # float, numpy floats: the decimal the user typed
        value = float(value)
        if not math.isfinite(value):
            raise UserError(f"{what} must be finite, got {value!r}; write e.g. 1/2 or 0.5")
        return Fraction(repr(value))
    if isinstance(value, str):
        text = value.strip()
        low = text.lower().lstrip("+-")
        if low in {"nan", "inf", "infinity"}:
            raise UserError(f"{what} must be finite, got {value!r}; write e.g. 1/2 or 0.5")
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise UserError(f"{what} is not a number: {value!r}; write e.g. 1/2, 0.5 or -1") from None
    raise UserError(f"{what} is not a number: {value!r}; write e.g. 1/2, 0.5 or -1")


def _positive_float(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a positive number, got {value!r}; e.g. 1.0") from None
    if not math.isfinite(out) or out <= 0:
        raise UserError(f"{what} must be a positive finite number, got {value!r}; e.g. 1.0")
    return out


# ---- views plug in from above ---------------------------------------------------------------------
# The finite network, the kernel limit and the feature-learning limit are views of one description;
# they live in higher layers, so this module names none of them. A view is registered by name with a
# factory ``(parametrization, *args, **kwargs) -> view`` or, to load it on first use, a dotted
# ``"package.module:attribute"`` path (``infwidth/__init__.py`` registers the built-in ones).
_VIEWS: dict[str, Callable[..., Any] | str] = {}


def register_view(name: str, factory: Callable[..., Any] | str) -> None:
    """Make ``factory`` the view ``name`` (a callable, or ``"module:attribute"`` loaded on first use)."""
    if not isinstance(factory, str) and not callable(factory):
        raise UserError(f"view {name!r} needs a callable or a 'module:attribute' path, got {factory!r}")
    _VIEWS[name] = factory


def view(name: str) -> Callable[..., Any]:
    """The factory registered as view ``name`` (loading it on first use)."""
    try:
        factory = _VIEWS[name]
    except KeyError:
        raise UserError(
            f"no view {name!r} is registered; choose one of {', '.join(sorted(_VIEWS)) or 'none'}, "
            "or register one with register_view"
        ) from None
    if isinstance(factory, str):
        import importlib

        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _VIEWS[name] = factory
    return factory


def _fmt(x: Fraction) -> str:
    return str(x)


@dataclass(frozen=True)
class Parametrization:
    """An abc-parametrization of an L-hidden-layer MLP. Immutable and hashable.

    ``a[l-1], b[l-1]`` are the exponents of layer ``l`` (``l = L+1`` is the readout); ``c`` is the
    global SGD learning-rate exponent; ``sigma[l-1]`` the width-independent init constant.
    ``name`` is only a label: it does not take part in equality.
    """

    a: tuple[Fraction, ...]
    b: tuple[Fraction, ...]
    c: Fraction
    sigma: tuple[float, ...] = ()
    name: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for what, seq in (("a", self.a), ("b", self.b)):
            if isinstance(seq, str | bytes) or not isinstance(seq, Sequence):
                raise UserError(f"{what} must be a sequence of L+1 numbers, got {seq!r}; e.g. a=(0, 1/2)")
        a = tuple(to_fraction(x, f"a_{i + 1}") for i, x in enumerate(self.a))
        b = tuple(to_fraction(x, f"b_{i + 1}") for i, x in enumerate(self.b))
        if len(a) < 2:
            raise UserError(
                f"need exponents for L+1 >= 2 layers (depth L >= 1), got {len(a)}; give a_1..a_(L+1)"
            )
        if len(b) != len(a):
            raise UserError(
                f"`b` has {len(b)} b-exponents but `a` has {len(a)} a-exponents; give L+1 of each (one per layer, readout last)"
            )
        sigma = tuple(self.sigma) if self.sigma else (1.0,) * len(a)
        if len(sigma) != len(a):
            raise UserError(f"got {len(sigma)} init constants sigma for {len(a)} layers; give one per layer")
        sigma = tuple(_positive_float(s, f"sigma_{i + 1}") for i, s in enumerate(sigma))
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", to_fraction(self.c, "c"))
        object.__setattr__(self, "sigma", sigma)

    # ---- basic facts -------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.a) - 1

    @property
    def L(self) -> int:  # noqa: N802 - the paper's symbol
        return self.depth

    def init_exponents(self) -> tuple[Fraction, ...]:
        """``a_l + b_l``: the effective init scale of ``W^l`` is ``n^{-(a_l + b_l)}``."""
        return tuple(x + y for x, y in zip(self.a, self.b, strict=True))

    def step_exponents(self) -> tuple[Fraction, ...]:
        """``c + 2 a_l``: the effective SGD step on ``W^l`` scales like ``n^{-(c + 2 a_l)}``."""
        return tuple(self.c + 2 * x for x in self.a)

    # ---- symmetry ----------------------------------------------------------------------------
    def shift(self, t: Number) -> Parametrization:
        """The symmetry ``(a, b, c) -> (a + t, b - t, c - 2t)``: same network at every width and step."""
        t = to_fraction(t, "t")
        return replace(
            self,
            a=tuple(x + t for x in self.a),
            b=tuple(x - t for x in self.b),
            c=self.c - 2 * t,
        )

    def canonical(self) -> Parametrization:
        """The representative of the symmetry class with ``a_{L+1} = 0`` (Table-3 style)."""
        return self.shift(-self.a[-1])

    def equivalent(self, other: Parametrization) -> bool:
        """Equal up to the symmetry (same init and step exponents in every layer, same sigma)."""
        return (
            self.depth == other.depth
            and self.sigma == other.sigma
            and self.init_exponents() == other.init_exponents()
            and self.step_exponents() == other.step_exponents()
        )

    def with_c(self, c: Number) -> Parametrization:
        """The same a, b with a different SGD exponent ``c`` (e.g. SP with lr ~ 1/n is c = 1)."""
        return replace(self, c=to_fraction(c, "c"))

    def with_sigma(self, sigma: Sequence[float]) -> Parametrization:
        """The same exponents with other width-independent init constants."""
        return replace(self, sigma=tuple(sigma))

    # ---- one description, every view ---------------------------------------------------------
    def classify(self) -> Any:
        """Exact classification: a :class:`~infwidth.parametrizations.classify.Classification`.

        The classifier is registered as the view ``"classify"`` by the package (it reads this type, so
        this module does not import it back).
        """
        return view("classify")(self)

    def mlp(self, width: int, d_in: int, d_out: int, **kwargs: Any) -> nn.Module:
        """The finite width-``width`` PyTorch MLP in this parametrization (the ``"mlp"`` view)."""
        return view("mlp")(self, width=width, d_in=d_in, d_out=d_out, **kwargs)

    def kernel_limit(self, d_in: int, **kwargs: Any) -> Callable[..., Any]:
        """The kernel-regime limit (kernel + f_0 prior) of this parametrization's MLP on ``d_in`` inputs.

        The ``"kernel_limit"`` view (:func:`infwidth.limits.kernels.regime_kernel_fn`): a kernel function
        ``(x1, x2=None, *, ntk=True) -> Kernels``; kernel-regime parametrizations only.
        """
        return view("kernel_limit")(self, d_in, **kwargs)

    def feature_learning_limit(self, d_in: int, d_out: int, nonlinearity: str = "relu", **kwargs: Any) -> Any:
        """The muP limit of ``self.mlp(width, d_in, d_out, nonlinearity=...)`` trained by SGD.

        The ``"feature_learning_limit"`` view (:func:`infwidth.limits.feature_learning.bridge.mup_limit`):
        an :class:`infwidth.limits.interface.Limit` (``sample(width, seed)``, ``train(...)``), named here
        only in words because the core imports nothing from the layers above it. muP (up to symmetry) only.
        """
        return view("feature_learning_limit")(self, d_in, d_out, nonlinearity, **kwargs)

    # ---- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        a = ", ".join(map(_fmt, self.a))
        b = ", ".join(map(_fmt, self.b))
        extra = "" if all(s == 1.0 for s in self.sigma) else f", sigma=({', '.join(map(str, self.sigma))})"
        return f"Parametrization({label}L={self.depth}, a=({a}), b=({b}), c={_fmt(self.c)}{extra})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (exponents as exact fraction strings)."""
        return {
            "name": self.name,
            "depth": self.depth,
            "a": [str(x) for x in self.a],
            "b": [str(x) for x in self.b],
            "c": str(self.c),
            "sigma": list(self.sigma),
        }


# ---- presets ---------------------------------------------------------------------------------
def _check_depth(depth: int) -> int:
    # the one depth check lives in infwidth.errors; the parameter in backquotes so the CLI says --depth
    return check_depth(depth, "`depth`")


def _build(name: str, a: list[Fraction], b: list[Fraction], c: Number) -> Parametrization:
    return Parametrization(a=tuple(a), b=tuple(b), c=to_fraction(c, "c"), name=name)


def sp(depth: int, c: Number = 0) -> Parametrization:
    """Standard parametrization: W^1 entries N(0,1), later layers N(0,1/n); lr ~ n^{-c}."""
    L = _check_depth(depth)
    half = Fraction(1, 2)
    return _build("sp", [Fraction(0)] * (L + 1), [Fraction(0)] + [half] * L, c)


def ntp(depth: int, c: Number = 0) -> Parametrization:
    """NTK parametrization: multipliers n^{-1/2} after the first layer, N(0,1) init."""
    L = _check_depth(depth)
    half = Fraction(1, 2)
    return _build("ntp", [Fraction(0)] + [half] * L, [Fraction(0)] * (L + 1), c)


def mfp(depth: int = 1, c: Number = -1) -> Parametrization:
    """Mean-field parametrization (L = 1 only): f = (1/n) sum_a v_a phi(u_a . xi)."""
    L = _check_depth(depth)
    if L != 1:
        raise UserError(f"mfp is defined for depth 1 only, got depth {L}; use depth 1, or mup for deeper nets")
    return _build("mfp", [Fraction(0), Fraction(1)], [Fraction(0), Fraction(0)], c)


def mup(depth: int, c: Number = 0) -> Parametrization:
    """Maximal update parametrization (Table 3 form): a = (-1/2, 0.., 1/2), b = 1/2, c = 0."""
    return up(0, depth, c=c)


def up(s: Number, depth: int, c: Number = 0) -> Parametrization:
    """Uniform parametrization UP_s, 0 <= s <= 1/2: UP_0 = muP, UP_1/2 = NTP (r = s)."""
    L = _check_depth(depth)
    s = to_fraction(s, "s")
    if not 0 <= s <= Fraction(1, 2):
        raise UserError(f"s must lie in [0, 1/2] for up, got {s}; pick s between 0 (muP) and 1/2 (NTP)")
    half = Fraction(1, 2)
    a = [s - half] + [s] * (L - 1) + [half]
    b = [half - s] * (L + 1)
    name = "mup" if s == 0 else f"up({s})"
    return _build(name, a, b, c)


def preset(name: str, depth: int, *, c: Number | None = None, s: Number | None = None) -> Parametrization:
    """A named parametrization: ``sp``, ``ntp``, ``mfp``, ``mup`` or ``up`` (needs ``s``).

    ``c`` overrides the preset's SGD exponent (e.g. ``preset("sp", 2, c=1)`` is SP with lr ~ 1/n).
    """
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    if key == "up":
        if s is None:
            raise UserError("preset up needs s with 0 <= s <= 1/2; add e.g. `s=1/4`")
        p = up(s, depth)
    else:
        if s is not None:
            raise UserError(f"`s` applies to preset up only, not {key}; drop `s` or use preset up")
        p = {"sp": sp, "ntp": ntp, "mfp": mfp, "mup": mup}[key](depth)
    return p if c is None else p.with_c(c)


def from_exponents(
    a: Sequence[Number], b: Sequence[Number], c: Number, sigma: Sequence[float] = (), name: str | None = None
) -> Parametrization:
    """A parametrization from explicit exponent lists (L+1 each)."""
    return Parametrization(a=tuple(a), b=tuple(b), c=c, sigma=tuple(sigma), name=name)  # type: ignore[arg-type]
