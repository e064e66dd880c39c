"""Train the GPT as a character-level language model on the Wikipedia sample the package ships.

:class:`TrainConfig` (frozen, picklable) + :func:`train` -> :class:`TrainResult` (losses): the unit a
sweep over learning rate x width loops over. The text is the text8-normalized sample
(``infwidth/_data/word2vec/wiki_sample.txt.xz``): 27 characters, space and a-z.
"""

from __future__ import annotations

import lzma
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import torch

from infwidth.anymodel.gpt import GPTConfig, build_gpt
from infwidth.datasets import package_data
from infwidth.errors import UserError, check_int

VOCAB = " abcdefghijklmnopqrstuvwxyz"
SAMPLE = ("word2vec", "wiki_sample.txt.xz")


@lru_cache(maxsize=4)
def char_corpus(n_chars: int = 1_000_000) -> torch.Tensor:
    """The first ``n_chars`` characters of the shipped sample as token ids (uint8, 0 = space)."""
    check_int(n_chars, "n_chars")
    with lzma.open(package_data(*SAMPLE), "rt", encoding="ascii") as fh:
        text = fh.read(n_chars)
    table = bytes.maketrans(VOCAB.encode(), bytes(range(len(VOCAB))))
    return torch.frombuffer(bytearray(text.encode("ascii").translate(table)), dtype=torch.uint8).clone()


def batches(tokens: torch.Tensor, batch: int, block: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of ``(input, next-character target)`` windows of length ``block``."""
    starts = torch.randint(0, tokens.numel() - block - 1, (batch,), generator=generator)
    idx = starts[:, None] + torch.arange(block + 1)[None, :]
    win = tokens[idx].long()
    return win[:, :-1], win[:, 1:]


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, parametrization, optimizer, schedule. Picklable; ``as_dict`` for JSON.

    ``parametrization``: ``mup``, ``sp``, ``ntp`` (or ``up`` with ``s``); ``c`` overrides the SGD
    exponent; ``adam_c`` gives explicit per-layer Adam exponents (input, hidden, output), e.g.
    ``(0, 0, 0)`` for one width-independent Adam rate. The first 90% of the ``n_chars`` characters
    train, the last 10% give the validation loss.
    """

    model: GPTConfig = field(default_factory=lambda: GPTConfig(vocab_size=len(VOCAB)))
    parametrization: str = "mup"
    optimizer: str = "adam"
    lr: float = 1e-2
    steps: int = 200
    batch: int = 16
    seed: int = 0
    weight_decay: float = 0.0
    warmup: int = 0
    grad_clip: float | None = 1.0
    c: str | None = None
    s: str | None = None
    adam_c: tuple[str, ...] | None = None
    n_chars: int = 1_000_000
    eval_batches: int = 4
    device: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.model, GPTConfig):
            raise UserError(f"model must be a GPTConfig, got {type(self.model).__name__}")
        if self.model.vocab_size != len(VOCAB):
            raise UserError(f"the character corpus has {len(VOCAB)} symbols; set GPTConfig(vocab_size={len(VOCAB)})")
        for what in ("steps", "batch", "n_chars", "eval_batches"):
            check_int(getattr(self, what), what)
        check_int(self.warmup, "warmup", minimum=0)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose sgd, adam or adamw")
        if self.n_chars < 20 * (self.model.block_size + 1):
            raise UserError(f"n_chars {self.n_chars} is too small for block_size {self.model.block_size}; use >= {20 * (self.model.block_size + 1)}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.as_dict()
        return d


@dataclass
class TrainResult:
    """Training losses (one per step), the final validation loss, and the config that made them."""

    losses: list[float]
    val_loss: float
    config: dict[str, Any]

    @property
    def diverged(self) -> bool:
        return not all(math.isfinite(x) for x in self.losses) or not math.isfinite(self.val_loss)

    def as_dict(self) -> dict[str, Any]:
        return {"losses": self.losses, "val_loss": self.val_loss, "diverged": self.diverged, "config": self.config}


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.model`` in ``config.parametrization`` for ``config.steps`` steps; losses per step.

    A non-finite loss stops the run (the rest of ``losses`` is NaN). Same config, same numbers.
    """
    from infwidth.anymodel.apply import make_optimizer
    from infwidth.device import resolve_device

    device = resolve_device(config.device)
    tokens = char_corpus(config.n_chars)
    split = int(0.9 * tokens.numel())
    train_tok, val_tok = tokens[:split], tokens[split:]
    model = build_gpt(config.model, config.parametrization, seed=config.seed, device=device, c=config.c, s=config.s)
    kw: dict[str, Any] = {}
    if config.optimizer != "sgd":
        kw["adam_c"] = config.adam_c
    if config.weight_decay:
        kw["weight_decay"] = config.weight_decay
    opt = make_optimizer(model, config.optimizer, config.lr, **kw)
    sched = None
    if config.warmup:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1.0, (t + 1) / config.warmup))
    gen = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    for _ in range(config.steps):
        x, y = batches(train_tok, config.batch, config.model.block_size, gen)
        logits = model(x.to(device))
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())
        value = loss.item()
        losses.append(value)
        if not math.isfinite(value):
            losses += [math.nan] * (config.steps - len(losses))
            return TrainResult(losses, math.nan, config.as_dict())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        if sched is not None:
            sched.step()
    val_gen = torch.Generator().manual_seed(1_000_003)
    with torch.no_grad():
        vals = []
        for _ in range(config.eval_batches):
            x, y = batches(val_tok, config.batch, config.model.block_size, val_gen)
            logits = model(x.to(device))
            vals.append(float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())))
    return TrainResult(losses, sum(vals) / len(vals), config.as_dict())
