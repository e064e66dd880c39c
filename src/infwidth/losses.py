"""The one list of losses: canonical names, accepted aliases and the torch function (mean over the batch).

``mse`` is ``0.5 ||f - y||^2`` per input, ``cross_entropy`` (alias ``xent``) softmax cross-entropy
against integer labels. Views that cannot use one say so in one line.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from infwidth.errors import UserError

Tensor = torch.Tensor


def mse(f: Tensor, y: Tensor) -> Tensor:
    """``mean_b 0.5 ||f_b - y_b||^2``."""
    return 0.5 * ((f - y) ** 2).sum(dim=-1).mean()


def cross_entropy(f: Tensor, y: Tensor) -> Tensor:
    """Mean softmax cross-entropy of logits ``f`` against integer labels ``y`` (or one-hot rows)."""
    labels = y.argmax(-1) if y.dim() == 2 else y
    return torch.nn.functional.cross_entropy(f, labels if labels.dtype == torch.long else labels.long())


LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"mse": mse, "cross_entropy": cross_entropy}
ALIASES = {"xent": "cross_entropy", "ce": "cross_entropy", "cross-entropy": "cross_entropy", "l2": "mse"}
NAMES = tuple(LOSSES)


def canonical(name: str) -> str:
    """Canonical spelling (``xent`` -> ``cross_entropy``); one-line error for an unknown loss."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in LOSSES:
        raise UserError(f"unknown loss {name!r}; choose mse or cross_entropy (alias xent)")
    return key


def get(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss function for a name or alias."""
    return LOSSES[canonical(name)]
