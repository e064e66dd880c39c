"""The paper's MAML models: the linear 1-hidden-layer muP net 784 -> n -> 5, its exact limit, presets.

Finite widths are *sampled from the limit* (the exact linear muP limit, docs/feature_learning.md): the width-n net is coupled to the
width-789 limit at initialization, so every width starts from the same function (the limit's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from infwidth.errors import UserError

D_IN = 28 * 28


@dataclass(frozen=True)
class Preset:
    """Hyperparameters tuned per width in the paper: meta-rate, sigma_u, sigma_v, hidden-bias multiplier."""

    meta_lr: float
    sigma_u: float
    sigma_v: float
    alpha: float


# The paper's per-width tuning (docs/maml.md); widths >= 512 and the limit share one preset.
PRESETS: dict[int, Preset] = {
    2: Preset(0.05, 0.5, 0.5, 2.0),
    8: Preset(0.1, 0.5, 0.25, 1.0),
    32: Preset(0.4, 1.0, 0.125, 0.5),
    128: Preset(0.1, 1.0, 0.125, 1.0),
    512: Preset(0.1, 1.0, 0.03125, 1.0),
}
LIMIT_PRESET = PRESETS[512]

# The paper's meta-test accuracies (%) (docs/maml.md), for comparison in plots and docs only.
PAPER_ACCURACY = {
    "finite": {2: 55.34, 8: 64.54, 32: 66.21, 128: 66.31, 512: 66.43, 2048: 66.36, 8192: 66.41},
    "muP limit": 66.42, "gp-relu": 47.60, "ntk-relu": 47.82, "gp-linear": 41.68, "ntk-linear": 41.68,
}


def preset_for(width: int | None) -> Preset:
    """The paper's preset for ``width`` (``None`` = the limit): the largest tuned width not above it."""
    if width is None:
        return LIMIT_PRESET
    if width < 1:
        raise UserError(f"width must be >= 1, got {width}; pass a positive width or 'limit'")
    tuned = [w for w in PRESETS if w <= width]
    return PRESETS[max(tuned)] if tuned else PRESETS[min(PRESETS)]


def build_model(
    width: int | None,
    *,
    sigma_u: float,
    sigma_v: float,
    alpha: float,
    ways: int = 5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    simulate: bool = False,
) -> nn.Module:
    """The muP limit (``width=None``, width d + ways = 789) or a width-``width`` net sampled from it.

    ``simulate=True`` returns the exact width-789 stand-in of that same width-``width`` net
    (``LinearMupLimit.simulate``: equal outputs at every SGD step up to rounding), whose cost does
    not grow with the width.
    """
    from infwidth.limits.feature_learning.linear import LinearMupLimit

    limit = LinearMupLimit(D_IN, ways, sigma_u=sigma_u, sigma_v=sigma_v, alpha=alpha, dtype=dtype, device=device)
    if width is None:
        return limit
    return limit.simulate(width, seed) if simulate else limit.sample(width, seed)


def parse_width(text: str) -> int | None:
    """``"limit"``/``"inf"`` -> None, else a positive integer width (one-line error otherwise)."""
    t = text.strip().lower()
    if t in ("limit", "inf", "infinite"):
        return None
    try:
        width = int(t)
    except ValueError:
        raise UserError(f"width {text!r} is not an integer or 'limit'; pass e.g. `width=512` or `width=limit`") from None
    if width < 1:
        raise UserError(f"width must be >= 1, got {width}; pass a positive integer or 'limit'")
    return width
