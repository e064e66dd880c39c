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

#: The GPT of ``infwidth.anymodel`` as the sweeps train it: a 2-layer, 4-head pre-LN decoder over the 27
#: characters of the shipped Wikipedia sample (untied embeddings, no biases).
GPT_MODEL: dict[str, Any] = {"vocab_size": 27, "n_layer": 2, "n_head": 4}

#: Axis names of the GPT unit's nested config (``infwidth.sweeps.gpt_unit.GPTPoint``).
GPT_TRANSFER: dict[str, Any] = {"width": "train.model.d_model", "lr": "train.lr", "seed": "train.seed", "group": "param",
                                "tolerance_steps": 1.0, "over_doublings": 4}

#: muTransfer on a GPT (Tensor Programs V, figure 1): the character-level GPT trained with Adam and warm-up,
#: muP vs SP, widths 64..1024 (d_model), a log2 learning-rate grid, 3 seeds: 450 runs. Needs a GPU (or a
#: day of CPU); docs/sweeps.md says what ran instead.
TRANSFER_GPT: dict[str, Any] = {
    "unit": "gpt",
    "metric": "loss",
    "description": "char-level GPT, Adam, muP vs SP, widths 64..1024: the learning-rate optimum across width",
    "base": {"train": {"model": {**GPT_MODEL, "block_size": 64}, "batch": 32, "steps": 500, "warmup": 50,
                       "eval_batches": 16}},
    "axes": {
        "train.seed": [0, 1, 2],
        "train.model.d_model": [64, 128, 256, 512, 1024],
        "param": ["mup", "sp"],
        "train.lr": {"log2": [-14, 0], "step": 1},
    },
    "transfer": GPT_TRANSFER,
}

#: The same experiment cut to about an hour of one CPU core: widths 32..256 (8x), 300 Adam steps (30 warm-up)
#: of batch 16 x 32 characters, rates 2^-11..2^0, 3 seeds, validation on 32 batches (16,384 characters).
#: Seed-major order, so every finished seed is a full grid.
TRANSFER_GPT_CPU: dict[str, Any] = {
    **TRANSFER_GPT,
    "description": "transfer-gpt cut to a CPU hour: widths 32..256, 300 steps, batch 16 x 32 characters",
    "base": {"train": {"model": {**GPT_MODEL, "block_size": 32}, "batch": 16, "steps": 300, "warmup": 30,
                       "eval_batches": 32}},
    "axes": {
        "train.seed": [0, 1, 2],
        "train.model.d_model": [32, 64, 128, 256],
        "param": ["mup", "sp"],
        "train.lr": {"log2": [-11, 0], "step": 1},
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
