"""A sweep: a grid (or a seeded random sample of it) over named axes of one unit of work.

Written as a TOML/JSON file or a Python mapping::

    unit = "mlp-adam"               # a registered unit (see infwidth.sweeps.units)
    metric = "loss"                 # the result field to minimise (running best, transfer check)
    [base]                          # fixed config fields
    steps = 100
    [axes]                          # one list per varied field; every combination is a point
    param = ["mup", "sp"]
    width = [64, 128, 256]
    lr = {log2 = [-12, -4], step = 1}   # 2^-12, 2^-11, ..., 2^-4
    seed = [0, 1, 2]
    [sample]                        # optional: a random subset of the grid
    n = 40
    seed = 0
    [transfer]                      # optional: how to read the grid for the transfer check
    width = "width"
    lr = "lr"
    seed = "seed"
    group = "param"
    tolerance_steps = 1.0           # allowed drift of the optimum, in grid steps ...
    over_doublings = 4              # ... across this many width doublings (16x)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infwidth.errors import UserError
from infwidth.sweeps.units import Unit, resolve_unit

TOP_KEYS = {"unit", "metric", "base", "axes", "sample", "transfer", "name", "description"}
TRANSFER_KEYS = {"width", "lr", "seed", "group", "tolerance_steps", "over_doublings", "bootstrap"}


@dataclass(frozen=True)
class TransferSpec:
    """Which axes hold width, learning rate, seed and the compared groups, and the verdict's tolerance."""

    width: str = "width"
    lr: str = "lr"
    seed: str = "seed"
    group: str | None = "param"
    tolerance_steps: float = 1.0
    over_doublings: float = 4.0
    bootstrap: int = 200


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its full config (plain JSON values) and a stable key (hash of unit + config)."""

    key: str
    config: dict[str, Any] = field(hash=False)
    axes: dict[str, Any] = field(hash=False)


def point_key(unit: str, config: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit hash of the unit name and the full config (canonical JSON)."""
    from infwidth.runs import jsonable

    text = json.dumps({"unit": unit, "config": jsonable(config)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _axis_values(name: str, spec: Any) -> list[Any]:
    if isinstance(spec, Mapping):
        if set(spec) - {"log2", "step"} or "log2" not in spec:
            raise UserError(f"axis {name!r}: write a list or {{log2 = [LOW, HIGH], step = S}}, got {dict(spec)}")
        try:
            lo, hi = (float(v) for v in spec["log2"])
            step = float(spec.get("step", 1))
        except (TypeError, ValueError):
            raise UserError(f"axis {name!r}: log2 needs two numbers [LOW, HIGH] and a positive step") from None
        if step <= 0 or hi < lo:
            raise UserError(f"axis {name!r}: log2 range needs LOW <= HIGH and step > 0, got {list(spec['log2'])} step {step}")
        count = int(math.floor((hi - lo) / step + 1e-9)) + 1
        return [2.0 ** (lo + i * step) for i in range(count)]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise UserError(f"axis {name!r} is empty; give it at least one value")
        return list(spec)
    return [spec]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep over ``unit``; :meth:`points` lists its points in a fixed order."""

    unit: str
    axes: dict[str, list[Any]]
    base: dict[str, Any] = field(default_factory=dict)
    metric: str = "loss"
    sample: dict[str, int] | None = None
    transfer: TransferSpec | None = None
    name: str = ""
    description: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "") -> Sweep:
        """Validate a mapping (parsed TOML/JSON or Python); one-line errors for every mistake."""
        if not isinstance(data, Mapping):
            raise UserError("a sweep config must be a table/object with 'unit' and 'axes'")
        unknown = sorted(set(data) - TOP_KEYS)
        if unknown:
            raise UserError(f"unknown sweep key {unknown[0]!r}; use {', '.join(sorted(TOP_KEYS))}")
        if "unit" not in data:
            raise UserError("the sweep config names no unit; add unit = \"NAME\" (see infwidth.sweeps.unit_names())")
        unit = resolve_unit(str(data["unit"]))
        raw_axes = data.get("axes") or {}
        if not isinstance(raw_axes, Mapping) or not raw_axes:
            raise UserError("the sweep has no axes, so its grid is empty; add e.g. [axes] lr = [0.1, 0.01]")
        fields = unit.fields()
        for key in list(raw_axes) + list(data.get("base") or {}):
            if str(key).partition(".")[0] not in fields:
                raise UserError(f"unknown axis or config field {key!r} for unit {unit.name!r}; its fields are {', '.join(fields)}")
        axes = {str(k): _axis_values(str(k), v) for k, v in raw_axes.items()}
        base = dict(data.get("base") or {})
        overlap = sorted(set(base) & set(axes))
        if overlap:
            raise UserError(f"{overlap[0]!r} is both a base field and an axis; keep it in one place")
        sample = data.get("sample")
        if sample is not None:
            if not isinstance(sample, Mapping) or set(sample) - {"n", "seed"} or not isinstance(sample.get("n"), int) or sample["n"] < 1:
                raise UserError("[sample] needs n = POSITIVE_INT and optionally seed = INT")
            sample = {"n": int(sample["n"]), "seed": int(sample.get("seed", 0))}
        transfer = None
        if data.get("transfer") is not None:
            raw = data["transfer"]
            bad = sorted(set(raw) - TRANSFER_KEYS)
            if bad:
                raise UserError(f"unknown [transfer] key {bad[0]!r}; use {', '.join(sorted(TRANSFER_KEYS))}")
            transfer = TransferSpec(**raw)
            for role in ("width", "lr"):
                if getattr(transfer, role) not in axes:
                    raise UserError(f"[transfer] {role} = {getattr(transfer, role)!r} is not an axis; add it to [axes]")
            if transfer.tolerance_steps <= 0 or transfer.over_doublings <= 0:
                raise UserError("[transfer] tolerance_steps and over_doublings must be positive")
        sweep = cls(
            unit=unit.name, axes=axes, base=base, metric=str(data.get("metric", "loss")), sample=sample,
            transfer=transfer, name=str(data.get("name", name)), description=str(data.get("description", "")),
        )
        unit.make_config({**base, **{k: v[0] for k, v in axes.items()}})  # fails early on a bad value type
        return sweep

    def resolved_unit(self) -> Unit:
        return resolve_unit(self.unit)

    def as_dict(self) -> dict[str, Any]:
        """The canonical description (what run.json records; equal dicts = the same sweep)."""
        from dataclasses import asdict

        out: dict[str, Any] = {"unit": self.unit, "metric": self.metric, "base": self.base, "axes": self.axes}
        if self.sample:
            out["sample"] = self.sample
        if self.transfer:
            out["transfer"] = asdict(self.transfer)
        if self.name:
            out["name"] = self.name
        return out

    def points(self) -> list[Point]:
        """Every point of the grid (or the seeded sample), each with its full config and key."""
        from dataclasses import asdict

        from infwidth.runs import jsonable

        unit = self.resolved_unit()
        names = list(self.axes)
        combos = list(itertools.product(*(self.axes[n] for n in names)))
        if self.sample and self.sample["n"] < len(combos):
            chosen = sorted(random.Random(self.sample["seed"]).sample(range(len(combos)), self.sample["n"]))
            combos = [combos[i] for i in chosen]
        points = []
        for combo in combos:
            axes = dict(zip(names, combo, strict=True))
            config = jsonable(asdict(unit.make_config({**self.base, **axes})))
            points.append(Point(point_key(self.unit, config), config, jsonable(axes)))
        return points


def load_sweep(source: str | Path | Mapping[str, Any]) -> Sweep:
    """A sweep from a mapping, a ``.toml``/``.json`` file, or the name of a shipped sweep (see :data:`NAMED`)."""
    from infwidth.sweeps.named import NAMED

    if isinstance(source, Mapping):
        return Sweep.from_dict(source)
    text = str(source)
    if text in NAMED:
        return Sweep.from_dict(NAMED[text], name=text)
    path = Path(text)
    if not path.is_file():
        raise UserError(f"no sweep config file {text!r} and no shipped sweep of that name; shipped: {', '.join(sorted(NAMED))}")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise UserError(f"reading TOML needs Python 3.11+; write {path.stem}.json instead") from None
            data = tomllib.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot read sweep config {path}: {' '.join(str(exc).split())}") from None
    return Sweep.from_dict(data, name=path.stem)
