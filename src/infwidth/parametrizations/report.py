"""The paper's table of named parametrizations (SP, NTP, MFP, muP, UP_s), as computed by the classifier.

A view over :mod:`.classify`: JSON-ready rows and their markdown rendering.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from infwidth.parametrizations.abc import Parametrization, preset
from infwidth.parametrizations.classify import HALF, Classification, classify


def named_parametrizations(depth: int) -> list[tuple[str, Parametrization]]:
    """The named rows of the paper's table at this depth (MFP only when depth = 1)."""
    rows = [
        ("SP", preset("sp", depth)),
        ("SP, lr ~ 1/n", preset("sp", depth, c=1)),
        ("NTP", preset("ntp", depth)),
    ]
    if depth == 1:
        rows.append(("MFP", preset("mfp", 1)))
    rows += [
        ("muP", preset("mup", depth)),
        ("UP_1/4", preset("up", depth, s=Fraction(1, 4))),
        ("UP_1/2", preset("up", depth, s=HALF)),
    ]
    return rows


def _regime_words(c: Classification) -> str:
    if c.regime == "kernel":
        if c.kernel == "partial-ntk":
            return f"kernel (NTK of layers {','.join(map(str, c.kernel_layers or ()))})"
        return f"kernel ({(c.kernel or '').upper()})"
    if c.regime == "unstable":
        worst = max(c.failures, key=lambda f: f.by)
        return f"unstable ({worst.requirement} fails by {worst.by})"
    return c.regime


def named_table(depth: int) -> list[dict[str, Any]]:
    """One JSON-ready row per named parametrization, as computed by :func:`classify`."""
    rows = []
    for label, p in named_parametrizations(depth):
        c = classify(p)
        rows.append(
            {
                "name": label,
                "a": [str(x) for x in p.a],
                "b": [str(x) for x in p.b],
                "c": str(p.c),
                "r": str(c.r),
                "stable": c.stable,
                "regime": c.regime,
                "kernel": c.kernel,
                "kernel_layers": None if c.kernel_layers is None else list(c.kernel_layers),
                "summary": _regime_words(c),
                "every_layer_updated_maximally": bool(c.updated_maximally and all(c.updated_maximally)),
                "readout_initialized_maximally": c.readout_initialized_maximally,
                "f0_vanishes": c.f0_vanishes,
            }
        )
    return rows


def named_table_markdown(depth: int) -> str:
    """The paper's table of named parametrizations at ``depth``, as a markdown table."""
    head = "| name | a_1..a_(L+1) | b_1..b_(L+1) | c | r | regime | every layer updated max. | readout init. max. | f_0 -> 0 |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]

    def yn(v: Any) -> str:
        return "-" if v is None else ("yes" if v else "no")

    for row in named_table(depth):
        lines.append(
            f"| {row['name']} | {', '.join(row['a'])} | {', '.join(row['b'])} | {row['c']} | {row['r']} | "
            f"{row['summary']} | {yn(row['every_layer_updated_maximally'] if row['stable'] else None)} | "
            f"{yn(row['readout_initialized_maximally'])} | {yn(row['f0_vanishes'])} |"
        )
    return "\n".join(lines)
