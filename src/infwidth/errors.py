"""User-facing errors: one line that names the problem and the fix, never a traceback."""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user asked for. The CLI prints its message on one line, exit code 2.

    Messages name the problem and how to fix it, e.g.
    ``"widths must increase (got 128,64); list them smallest first"``. A message that tells the user
    to set one of the library's parameters names it in backquotes, e.g. ``"pass `data` or set
    INFWIDTH_DATA"`` or ``"pass e.g. `vocab_cap=120`"``; the CLI prints those as its flags
    (``--data``, ``--vocab-cap 120``), so library messages never name a flag.
    """


def require(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)


MAX_DEPTH = 10_000  # hidden layers: deeper requests are refused up front


def check_depth(depth: object, what: str = "depth") -> int:
    """The number of hidden layers ``L``: an integer (or integral number) >= 1; one-line error otherwise.

    The one depth check of the library (parametrizations, networks, limits, coordinate check).
    """
    if isinstance(depth, bool) or not isinstance(depth, int):
        try:
            value = int(depth)  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{what} must be an integer >= 1, got {depth!r}; e.g. {what} 2") from None
        if value != depth:
            raise UserError(f"{what} must be an integer >= 1, got {depth!r}; e.g. {what} 2")
        depth = value
    if depth < 1:
        raise UserError(f"{what} must be >= 1 (number of hidden layers), got {depth}; e.g. {what} 1")
    if depth > MAX_DEPTH:
        raise UserError(f"{what} {depth:,} is more than {MAX_DEPTH:,} hidden layers (it would only exhaust memory); "
                        f"use at most {MAX_DEPTH:,}")
    return depth


def check_int(value: object, what: str, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``; else a one-line :class:`UserError`.

    The message reads "``what`` must be a positive integer, got ..." for ``minimum = 1`` and
    "``what`` must be a non-negative integer, got ..." for ``minimum = 0``. A ``what`` that is a
    parameter name (an identifier) is written in backquotes, so the CLI prints it as its flag.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        name = f"`{what}`" if what.isidentifier() else what  # a parameter name: the CLI shows it as its flag
        raise UserError(f"{name} must be {kind}, got {value!r}")
    return value


class Diverged(UserError):
    """Training produced a non-finite quantity. Reported with the step and the quantity (never as a result)."""

    def __init__(self, quantity: str, step: str, fix: str = "lower the learning rate") -> None:
        super().__init__(f"training diverged: {quantity} became NaN or inf at {step}; {fix}")
        self.quantity, self.step = quantity, step
