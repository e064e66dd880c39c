"""The frozen, picklable description of one coordinate check."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from infwidth import losses as _losses
from infwidth import nonlinearities as _nl
from infwidth.errors import UserError, check_int
from infwidth.parametrizations.abc import Parametrization

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class CoordCheckConfig:
    """Everything one coordinate check needs; validated and normalized on construction.

    Inputs are iid N(0, 1), labels random classes (``cross_entropy``; ``mse`` against N(0, 1)
    targets by default when ``d_out == 1``). ``form="practical"`` trains the mup-style practical
    form (identical outputs). ``nested`` shares Gaussians across widths (common random numbers);
    ``lowrank`` computes SGD runs on the CPU without forming weight updates (exact, faster).
    """

    parametrization: Parametrization
    widths: tuple[int, ...]
    steps: int = 3
    seeds: int = 3
    optimizer: str = "sgd"
    lr: float = 0.1
    d_in: int = 32
    d_out: int = 10
    batch: int = 32
    nonlinearity: str = "relu"
    loss: str | None = None
    form: str = "abc"
    dtype: str = "float32"
    device: str = "cpu"
    seed: int = 0
    nested: bool = True
    lowrank: bool = True
    adam_c: tuple[Fraction, ...] | None = None
    base_tolerance: float = 0.1
    fit_from: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        p = self.parametrization
        if not isinstance(p, Parametrization):
            raise UserError(f"expected an infwidth Parametrization, got {type(p).__name__}; use e.g. infwidth.parametrizations.mup(depth)")
        widths = tuple(int(w) for w in self.widths)
        if len(widths) < 2:
            raise UserError(f"need at least 2 widths to fit a slope, got {len(widths)}; pass e.g. widths=[64, 128, 256]")
        if any(w < 1 for w in widths):
            raise UserError(f"widths must be positive, got {','.join(map(str, widths))}")
        if any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
            raise UserError(f"widths must increase, got {','.join(map(str, widths))}; list them smallest first")
        set_(self, "widths", widths)
        for value, what in ((self.steps, "steps"), (self.seeds, "seeds"), (self.d_in, "d_in"), (self.d_out, "d_out"),
                            (self.batch, "batch")):
            check_int(value, what)
        if not (isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool) and math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"learning rate must be a positive finite number, got {self.lr!r}")
        if not (isinstance(self.base_tolerance, (int, float)) and math.isfinite(self.base_tolerance) and self.base_tolerance > 0):
            raise UserError(f"base_tolerance must be a positive finite number, got {self.base_tolerance!r}")
        opt = str(self.optimizer).strip().lower()
        if opt not in ("sgd", "adam"):
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose sgd or adam")
        set_(self, "optimizer", opt)
        if self.form not in ("abc", "practical"):
            raise UserError(f"unknown form {self.form!r}; choose abc or practical")
        set_(self, "nonlinearity", _nl.canonical(self.nonlinearity))
        set_(self, "loss", _losses.canonical(self.loss or ("cross_entropy" if self.d_out > 1 else "mse")))
        if self.loss == "cross_entropy" and self.d_out < 2:
            raise UserError("cross_entropy needs d_out >= 2 (one logit per class); use loss='mse' or a larger d_out")
        dtype = str(self.dtype).replace("torch.", "")
        if dtype not in DTYPES:
            raise UserError(f"dtype must be float32 or float64, got {self.dtype!r}")
        set_(self, "dtype", dtype)
        set_(self, "device", str(self.device))
        if self.adam_c is not None:
            from infwidth.parametrizations.abc import to_fraction

            if opt != "adam":
                raise UserError("explicit Adam exponents need optimizer adam; set optimizer='adam' or drop adam_c")
            if self.form != "abc":
                raise UserError("explicit Adam exponents are supported in the abc form only; use form='abc'")
            adam_c = tuple(to_fraction(x, f"Adam exponent c_{i + 1}") for i, x in enumerate(self.adam_c))
            if len(adam_c) != p.depth + 1:
                raise UserError(f"got {len(adam_c)} Adam exponents for depth {p.depth}; give one per layer (L+1 = {p.depth + 1})")
            set_(self, "adam_c", adam_c)
        if self.fit_from is not None:
            check_int(self.fit_from, "fit_from")
            if sum(w >= self.fit_from for w in widths) < 2:
                raise UserError(f"`fit_from={self.fit_from}` leaves fewer than 2 widths to fit; lower it or add wider `widths`")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + s for s in range(self.seeds)]

    def as_dict(self) -> dict[str, Any]:
        """The JSON config block of the report (same keys as before the package existed)."""
        return {
            "widths": list(self.widths), "steps": self.steps, "seeds": self.seeds, "seed": self.seed,
            "optimizer": self.optimizer, "lr": self.lr, "d_in": self.d_in, "d_out": self.d_out, "batch": self.batch,
            "nonlinearity": self.nonlinearity, "loss": self.loss, "form": self.form,
            "adam_c": None if self.adam_c is None else [str(c) for c in self.adam_c], "dtype": self.dtype,
            "nested_init": self.nested, "lowrank_sgd": self.lowrank, "fit_from": self.fit_from,
        }

