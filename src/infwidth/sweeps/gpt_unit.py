"""Unit of work: one character-level GPT training run (muP or SP, Adam) on the shipped Wikipedia sample.

A flat, picklable config so that width, learning rate and seed are sweep axes; it builds
:class:`infwidth.anymodel.train.TrainConfig` and calls :func:`infwidth.anymodel.train.train`. muP uses
the paper's per-role Adam rates (Tensor Programs V: hidden and output rates divided by the width
multiplier, attention ``q.k / d_head``); SP uses one width-independent Adam rate for every tensor
(``adam_c = (0, 0, 0)``) and ``q.k / sqrt(d_head)``, as practitioners train it.
"""

from __future__ import annotations

from dataclasses import dataclass

from infwidth.errors import UserError


@dataclass(frozen=True)
class GPTPointConfig:
    param: str = "mup"  # mup | sp
    width: int = 128  # d_model
    lr: float = 1e-2
    seed: int = 0
    n_layer: int = 2
    n_head: int = 4
    block_size: int = 64
    steps: int = 200
    batch: int = 16
    warmup: int = 0
    grad_clip: float | None = 1.0
    n_chars: int = 1_000_000
    eval_batches: int = 4
    device: str = "auto"
    threads: int | None = 1


def train_gpt(config: GPTPointConfig) -> dict[str, object]:
    """Validation loss (nats/char) after ``steps`` Adam steps; the training-loss curve every 10 steps."""
    import math

    from infwidth.anymodel.gpt import GPTConfig
    from infwidth.anymodel.train import VOCAB, TrainConfig, train
    from infwidth.device import torch_threads

    if config.param not in ("mup", "sp"):
        raise UserError(f"param must be 'mup' or 'sp', got {config.param!r}")
    model = GPTConfig(vocab_size=len(VOCAB), block_size=config.block_size, n_layer=config.n_layer,
                      n_head=config.n_head, d_model=config.width)
    cfg = TrainConfig(model=model, parametrization=config.param, optimizer="adam", lr=config.lr, steps=config.steps,
                      batch=config.batch, seed=config.seed, warmup=config.warmup, grad_clip=config.grad_clip,
                      adam_c=("0", "0", "0") if config.param == "sp" else None, n_chars=config.n_chars,
                      eval_batches=config.eval_batches, device=config.device)
    with torch_threads(config.threads):
        result = train(cfg)
    val = result.val_loss if math.isfinite(result.val_loss) else None
    curve = [x if math.isfinite(x) else None for x in result.losses[::10]]
    return {"loss": val, "train_loss": curve[-1] if curve else None, "diverged": result.diverged, "train_curve": curve}
