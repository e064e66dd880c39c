"""Unit of work: one character-level GPT training run (muP or SP, Adam) on the shipped Wikipedia sample.

The config is :class:`infwidth.anymodel.train.TrainConfig` itself (one definition of steps, batch, lr,
seed, warm-up, ...), nested as ``train``, plus the one choice it does not hold: ``param``, the recipe.
A sweep sets nested fields with dotted axes (``"train.lr"``, ``"train.seed"``, ``"train.model.d_model"``).
muP (``param = "mup"``) uses the paper's per-role Adam rates (Tensor Programs V: hidden and output rates
divided by the width multiplier, attention ``q.k / d_head``); SP (``param = "sp"``) uses one
width-independent Adam rate for every tensor (``adam_c = (0, 0, 0)``) and ``q.k / sqrt(d_head)``, as
practitioners train it. ``train.parametrization`` and ``train.adam_c`` are therefore set by ``param``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from infwidth.anymodel.gpt import GPTConfig
from infwidth.anymodel.train import VOCAB, TrainConfig
from infwidth.errors import UserError

RECIPES = {"mup": ("mup", None), "sp": ("sp", ("0", "0", "0"))}


def _default_train() -> TrainConfig:
    return TrainConfig(model=GPTConfig(vocab_size=len(VOCAB)))


@dataclass(frozen=True)
class GPTPoint:
    """``param``: ``mup`` or ``sp`` (sets ``train.parametrization`` and ``train.adam_c``); ``train``: the run."""

    param: str = "mup"
    train: TrainConfig = field(default_factory=_default_train)
    threads: int | None = 1


def train_config(point: GPTPoint) -> TrainConfig:
    """The :class:`TrainConfig` that ``point`` trains: its ``train`` with the recipe of ``param`` applied."""
    if point.param not in RECIPES:
        raise UserError(f"`param` must be 'mup' or 'sp', got {point.param!r}")
    default = _default_train()
    if (point.train.parametrization, point.train.adam_c) != (default.parametrization, default.adam_c):
        raise UserError("set the recipe with `param` ('mup' or 'sp'), not `train.parametrization` / `train.adam_c`")
    parametrization, adam_c = RECIPES[point.param]
    return replace(point.train, parametrization=parametrization, adam_c=adam_c)


def train_gpt(point: GPTPoint) -> dict[str, object]:
    """Validation loss (nats/char) after ``train.steps`` Adam steps; the training-loss curve every 10 steps."""
    from infwidth.anymodel.train import train
    from infwidth.device import torch_threads

    cfg = train_config(point)
    with torch_threads(point.threads):
        result = train(cfg)
    val = result.val_loss if math.isfinite(result.val_loss) else None
    curve = [x if math.isfinite(x) else None for x in result.losses[::10]]
    return {"loss": val, "train_loss": curve[-1] if curve else None, "diverged": result.diverged, "train_curve": curve}
