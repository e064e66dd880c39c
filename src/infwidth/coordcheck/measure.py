"""Measure coordinate sizes of any ``nn.Module`` through forward hooks.

:func:`measure` trains ``model`` for ``steps`` optimizer steps on one batch and records, after every
step, the RMS of the outputs of the named submodules and of their change since step 0. It knows
nothing of MLPs: a mapping ``quantity -> submodule name`` says what to record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from infwidth import losses as _losses
from infwidth.errors import UserError


@dataclass
class Divergence:
    """A run that overflowed or turned NaN: where (first non-finite quantity) and when."""

    width: int
    seed: int
    step: int
    layer: str

    def __str__(self) -> str:
        return f"width {self.width}, seed {self.seed}: {self.layer} not finite at step {self.step}"


def rms_all(tensors: Sequence[torch.Tensor]) -> np.ndarray:
    """RMS of each tensor; squares that overflow the dtype are redone in float64 (only true inf/NaN stay)."""
    rms = torch.stack([torch.linalg.vector_norm(t) / math.sqrt(t.numel()) for t in tensors]).cpu().double().numpy()
    for i in np.flatnonzero(~np.isfinite(rms)):
        t = tensors[i]
        rms[i] = (torch.linalg.vector_norm(t, dtype=torch.float64) / math.sqrt(t.numel())).item()
    return rms


def default_quantities(model: nn.Module) -> dict[str, str]:
    """``quantity -> submodule`` for a model with ``taps`` (infwidth's MLPs: ``h1, x1, .., f``)."""
    taps = getattr(model, "taps", None)
    if not isinstance(taps, nn.ModuleDict):
        raise UserError(f"{type(model).__name__} has no taps; pass quantities={{name: submodule name}} to measure")
    return {q: f"taps.{q}" for q in taps}


@contextmanager
def record_outputs(model: nn.Module, quantities: Mapping[str, str]) -> Iterator[dict[str, torch.Tensor]]:
    """While active, ``out[q]`` holds the last forward output of submodule ``quantities[q]``."""
    modules = dict(model.named_modules())
    missing = [m for m in quantities.values() if m not in modules]
    if missing:
        raise UserError(f"{type(model).__name__} has no submodule {missing[0]!r}; name one of its named_modules()")
    out: dict[str, torch.Tensor] = {}
    handles = []
    for q, name in quantities.items():
        def hook(_mod: nn.Module, _inp: object, output: torch.Tensor, q: str = q) -> None:
            out[q] = output
        handles.append(modules[name].register_forward_hook(hook))
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


def measure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    steps: int,
    loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cross_entropy",
    quantities: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """RMS of every recorded output and of its change since step 0, at steps ``0..steps`` (rows).

    Columns: the quantities in order, then their changes (``"d" + q``). ``quantities`` maps a
    quantity name to a submodule name (default: the model's ``taps``). Returns ``(sizes, (step,
    name) or None)``: the first non-finite quantity stops the run; later rows are NaN.
    """
    quantities = dict(default_quantities(model) if quantities is None else quantities)
    names = list(quantities)
    lossf = _losses.get(loss) if isinstance(loss, str) else loss
    sizes = np.full((steps + 1, 2 * len(names)), np.nan)
    first: list[torch.Tensor] = []
    with record_outputs(model, quantities) as out:
        for t in range(steps + 1):
            f = model(x)
            now = [out[q] for q in names]
            with torch.no_grad():
                if t == 0:
                    first = [a.detach().clone() for a in now]
                sizes[t] = rms_all([a.detach() for a in now] + [a.detach() - a0 for a, a0 in zip(now, first, strict=True)])
            bad = ~np.isfinite(sizes[t, : len(names)])
            if bad.any():
                return sizes, (t, names[int(np.argmax(bad))])
            if t == steps:
                break
            optimizer.zero_grad(set_to_none=True)
            lossf(f, y).backward()
            optimizer.step()
    return sizes, None
