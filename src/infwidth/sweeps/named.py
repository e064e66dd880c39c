"""Sweeps shipped with infwidth, run by name: ``infwidth sweep run transfer-tiny --out DIR``."""

from __future__ import annotations

from typing import Any

#: muTransfer in minutes: a 2-hidden-layer ReLU MLP predicting the next character of the shipped
#: Wikipedia sample from the 6 before it, Adam, 150 steps; muP vs SP (one global Adam rate).
TRANSFER_TINY: dict[str, Any] = {
    "unit": "mlp-adam",
    "metric": "loss",
    "description": "char-level MLP, Adam, muP vs SP: the learning-rate optimum across width",
    "base": {"steps": 150, "batch": 64, "depth": 2, "context": 6},
    "axes": {
        "param": ["mup", "sp"],
        "width": [64, 128, 256, 512],
        "lr": {"log2": [-11, 0], "step": 1},
        "seed": [0, 1],
    },
    "transfer": {"width": "width", "lr": "lr", "seed": "seed", "group": "param",
                 "tolerance_steps": 1.0, "over_doublings": 4},
}

#: The benchmark's 100-point coordinate-check sweep (muP, SGD, 3 steps): 4 widths x 25 seeds.
COORDCHECK_100: dict[str, Any] = {
    "unit": "coordcheck-point",
    "metric": "df_last",
    "base": {"param": "mup", "depth": 3, "steps": 3},
    "axes": {"width": [64, 128, 256, 512], "seed": list(range(25))},
}

NAMED: dict[str, dict[str, Any]] = {
    "transfer-tiny": TRANSFER_TINY,
    "coordcheck-100": COORDCHECK_100,
}
