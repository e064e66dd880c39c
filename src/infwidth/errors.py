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
