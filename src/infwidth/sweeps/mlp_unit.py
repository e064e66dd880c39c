"""Unit of work: train one MLP (muP or SP) with Adam on next-character prediction from the shipped
Wikipedia sample, and report its validation loss. The tour's transfer section sweeps it over width x lr.

The task: predict character ``t`` from the ``context`` characters before it (one-hot, 27 symbols: a-z
and space, text8-normalised). muP uses the per-layer Adam rates of the paper's Table 3 form
(``net.adam(lr)``); SP uses one global Adam rate for every tensor (``net.adam(lr, exponents=0)``), as
practitioners do.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from infwidth.errors import UserError

ALPHABET = " abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class MLPAdamConfig:
    param: str = "mup"  # mup | sp
    width: int = 128
    lr: float = 1e-2
    seed: int = 0
    depth: int = 2
    context: int = 6
    steps: int = 150
    batch: int = 64
    train_chars: int = 200_000
    val_chars: int = 20_000
    nonlinearity: str = "relu"
    device: str = "auto"  # infwidth.device.resolve_device: a GPU when there is one
    threads: int = 1


@functools.lru_cache(maxsize=2)
def char_codes(chars: int) -> tuple[int, ...]:
    """The first ``chars`` characters of the shipped Wikipedia sample as codes 0..26 (cached per process)."""
    import lzma

    from infwidth.datasets import package_data

    with lzma.open(package_data("word2vec", "wiki_sample.txt.xz"), "rt") as fh:
        text = fh.read(chars)
    index = {c: i for i, c in enumerate(ALPHABET)}
    return tuple(index.get(c, 0) for c in text)


def _windows(codes, context: int, device):
    """``[N, context + 1]`` character codes: the inputs and, last, the target."""
    import torch

    return torch.tensor(codes, dtype=torch.long).unfold(0, context + 1, 1).to(device)


def _one_hot(windows, context: int):
    import torch

    return torch.nn.functional.one_hot(windows[:, :context], len(ALPHABET)).flatten(1).float(), windows[:, context]


def train_mlp(config: MLPAdamConfig) -> dict[str, float | bool]:
    """Train ``steps`` Adam steps at ``lr``; return the validation cross-entropy (nats/char) and the last train loss."""
    import torch

    from infwidth.device import resolve_device, torch_threads
    from infwidth.parametrizations import mup, sp

    if config.param not in ("mup", "sp"):
        raise UserError(f"param must be 'mup' or 'sp', got {config.param!r}")
    device = resolve_device(config.device)
    codes = char_codes(config.train_chars + config.val_chars)
    with torch_threads(config.threads):
        train = _windows(codes[: config.train_chars], config.context, device)
        x_val, y_val = _one_hot(_windows(codes[config.train_chars :], config.context, device), config.context)
        p = (mup if config.param == "mup" else sp)(config.depth)
        net = p.mlp(config.width, x_val.shape[1], len(ALPHABET), nonlinearity=config.nonlinearity,
                    device=device, seed=config.seed)
        if config.param == "mup":
            opt = net.adam(config.lr)
        else:
            opt = net.adam(config.lr, exponents=(0,) * (config.depth + 1))
        gen = torch.Generator().manual_seed(10_007 * config.seed + 1)
        loss = torch.tensor(float("nan"))
        for _ in range(config.steps):
            idx = torch.randint(0, train.shape[0], (config.batch,), generator=gen).to(device)
            x, y = _one_hot(train[idx], config.context)
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            val = float(torch.nn.functional.cross_entropy(net(x_val), y_val))
    train = float(loss.detach())
    finite = math.isfinite(val)
    return {"loss": val if finite else None, "train_loss": train if math.isfinite(train) else None, "diverged": not finite}
