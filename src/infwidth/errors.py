"""User-facing errors: one line that names the problem and the fix, never a traceback."""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user asked for. The CLI prints its message on one line, exit code 2.

    Messages name the problem and how to fix it, e.g.
    ``"--widths must increase (got 128,64); list them smallest first"``.
    """


def require(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)


def check_int(value: object, what: str, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``; else a one-line :class:`UserError`.

    The message reads "``what`` must be a positive integer, got ..." for ``minimum = 1`` and
    "``what`` must be a non-negative integer, got ..." for ``minimum = 0``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise UserError(f"{what} must be {kind}, got {value!r}")
    return value


class Diverged(UserError):
    """Training produced a non-finite quantity. Reported with the step and the quantity (never as a result)."""

    def __init__(self, quantity: str, step: str, fix: str = "lower the learning rate") -> None:
        super().__init__(f"training diverged: {quantity} became NaN or inf at {step}; {fix}")
        self.quantity, self.step = quantity, step
