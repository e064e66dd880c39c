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

#: muTransfer on a GPT (Tensor Programs V, figure 1): a 2-layer, 4-head pre-LN decoder trained as a
#: character-level language model on the shipped Wikipedia sample, Adam with warm-up, muP vs SP, widths
#: 64..1024 (d_model), a log2 learning-rate grid, 3 seeds: 450 runs (docs/sweeps.md says what of it ran).
TRANSFER_GPT: dict[str, Any] = {
    "unit": "gpt",
    "metric": "loss",
    "description": "char-level GPT, Adam, muP vs SP, widths 64..1024: the learning-rate optimum across width",
    "base": {"n_layer": 2, "n_head": 4, "block_size": 64, "batch": 32, "steps": 500, "warmup": 50},
    "axes": {
        "seed": [0, 1, 2],
        "width": [64, 128, 256, 512, 1024],
        "param": ["mup", "sp"],
        "lr": {"log2": [-14, 0], "step": 1},
    },
    "transfer": {"width": "width", "lr": "lr", "seed": "seed", "group": "param",
                 "tolerance_steps": 1.0, "over_doublings": 4},
}

#: What a shared 2-CPU machine manages in about an hour: the same experiment at widths 64..256, rates 2^-10..2^0,
#: 100 steps of batch 16 x 32 characters. Seed-major order, so every finished seed is a full grid.
TRANSFER_GPT_CPU: dict[str, Any] = {
    **TRANSFER_GPT,
    "description": "transfer-gpt cut to a 2-CPU hour: widths 64..256, 100 steps, batch 16 x 32 characters",
    "base": {"n_layer": 2, "n_head": 4, "block_size": 32, "batch": 16, "steps": 100, "warmup": 10, "device": "cpu"},
    "axes": {
        "seed": [0, 1, 2],
        "width": [64, 128, 256],
        "param": ["mup", "sp"],
        "lr": {"log2": [-10, 0], "step": 1},
    },
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
    "transfer-gpt": TRANSFER_GPT,
    "transfer-gpt-cpu": TRANSFER_GPT_CPU,
    "coordcheck-100": COORDCHECK_100,
}
