"""One SGD schedule shared by every limit and its finite nets, so their trajectories are comparable step by step.

Cyclic minibatches (:func:`batch_indices`), the losses, data checks, and :func:`train_module`, which
trains any module with a ``features`` method and records a :class:`~infwidth.limits.interface.Trajectory`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from infwidth import losses as _losses
from infwidth.errors import UserError, check_int
from infwidth.limits.interface import Trajectory


def check_dims(d_in: int, d_out: int) -> None:
    """Input and output dimensions are positive integers (one-line error otherwise)."""
    check_int(d_in, "d_in")
    check_int(d_out, "d_out")


def check_width(width: int) -> int:
    """Widths are integers >= 1 (one-line error otherwise)."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise UserError(f"`width` must be an integer >= 1, got {width!r}; pass e.g. `width=1024`")
    return width


def check_inputs(x: torch.Tensor, d_in: int, what: str = "model") -> None:
    """Inputs are ``(batch, d_in)`` (or a single ``(d_in,)`` vector)."""
    if not isinstance(x, torch.Tensor):
        raise UserError(f"inputs must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (1, 2) or x.shape[-1] != d_in:
        raise UserError(
            f"inputs have shape {tuple(x.shape)} but the {what} takes d_in={d_in}; pass (batch, {d_in})"
        )


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


mse, xent = _losses.mse, _losses.cross_entropy  # the shared definitions (infwidth.losses)
LOSSES: dict[str, Loss] = {**_losses.LOSSES, **{a: _losses.LOSSES[c] for a, c in _losses.ALIASES.items()}}


def resolve_loss(loss: str | Loss) -> Loss:
    """A loss by any name of :mod:`infwidth.losses` (``mse``, ``cross_entropy`` alias ``xent``) or a callable."""
    if callable(loss):
        return loss
    if not isinstance(loss, str) or _losses.ALIASES.get(loss.strip().lower(), loss.strip().lower()) not in _losses.LOSSES:
        raise UserError(f"unknown loss {loss!r}; use mse or cross_entropy (alias xent) or pass a callable")
    return _losses.get(loss)


def batch_indices(step: int, batch: int, n_data: int) -> torch.Tensor:
    """Cyclic minibatches: step ``t`` uses points ``t*B, ..., t*B + B - 1`` (mod the data size)."""
    return (torch.arange(step * batch, (step + 1) * batch) % n_data).long()


def check_data(x: torch.Tensor, y: torch.Tensor, d_in: int, d_out: int, batch: int, steps: int) -> None:
    """Training data must match the model's dimensions; one-line errors otherwise."""
    if x.dim() != 2 or x.shape[1] != d_in:
        raise UserError(f"training inputs have shape {tuple(x.shape)} but the model takes d_in={d_in}; pass (N, {d_in})")
    if y.shape[0] != x.shape[0]:
        raise UserError(f"{x.shape[0]} inputs but {y.shape[0]} targets; give one target per input")
    if y.dim() == 2 and y.shape[1] != d_out:
        raise UserError(f"targets have shape {tuple(y.shape)} but the model has d_out={d_out}; pass (N, {d_out})")
    check_int(batch, "batch size")
    check_int(steps, "steps", minimum=0)


def prepare_data(
    x: torch.Tensor,
    y: torch.Tensor,
    eval_x: torch.Tensor,
    d_in: int,
    d_out: int,
    batch: int,
    steps: int,
    dtype: torch.dtype,
    device: torch.device | str | None,
    what: str = "muP limit",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check a training run's data (:func:`check_data`, ``eval_x`` too), then move it to ``dtype``/``device``.

    Returns ``(x, y, eval_x)`` with ``eval_x`` as ``(E, d_in)``; ``what`` names the model in errors.
    """
    check_data(x, y, d_in, d_out, batch, steps)
    check_inputs(eval_x, d_in, what)
    return tuple(t.to(dtype).to(device) for t in (x, y, eval_x.reshape(-1, d_in)))


def sgd_steps(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch: int,
    loss_fn: Loss,
    after_step: Callable[[], None] | None = None,
) -> None:
    """``steps`` optimizer steps on the cyclic minibatches of :func:`batch_indices`; ``after_step()`` after each."""
    for t in range(steps):
        idx = batch_indices(t, batch, x.shape[0])
        value = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        value.backward()
        opt.step()
        if after_step is not None:
            after_step()


def train_module(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    batch: int,
    eval_x: torch.Tensor,
    loss: str | Loss = "mse",
) -> Trajectory:
    """Plain SGD on ``model`` (it must have ``features``), recording outputs and feature kernels."""
    loss_fn = resolve_loss(loss)
    # a model with its own per-layer SGD (an abc-parametrized net) uses it; plain SGD otherwise
    opt = model.sgd(lr) if callable(getattr(model, "sgd", None)) else torch.optim.SGD(model.parameters(), lr=lr)
    fs, ks = [], []

    def record() -> None:
        with torch.no_grad():
            h = model.features(eval_x)
            fs.append(model(eval_x).detach().clone())
            ks.append((h @ h.mT).detach().clone())

    record()
    sgd_steps(model, opt, x, y, steps, batch, loss_fn, after_step=record)
    return Trajectory(torch.stack(fs), torch.stack(ks))
