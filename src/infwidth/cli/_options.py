"""Option parsers shared by CLI commands (one-line errors for bad text)."""

from __future__ import annotations

from infwidth.errors import UserError


def parse_widths(text: str) -> list[int]:
    """``--widths``: ``16,64,256``, powers ``2^4,2^6``, a doubling range ``2^4..2^14`` (``16..16384``), or a
    progression ``64,128,...,2048``."""
    text = text.strip()

    def one(tok: str) -> int:
        tok = tok.strip()
        try:
            if "^" in tok:
                base, exp = tok.split("^")
                return int(base) ** int(exp)
            return int(tok)
        except ValueError:
            raise UserError(f"cannot read width {tok!r}; write e.g. --widths 16,64,256 or 2^4..2^14") from None

    if ".." in text and "..." not in text:
        lo, hi = (one(t) for t in text.split("..", 1))
        if lo < 1 or hi < lo:
            raise UserError(f"bad width range {text!r}; write LOW..HIGH with 1 <= LOW <= HIGH, e.g. 2^4..2^14")
        out = []
        w = lo
        while w <= hi:
            out.append(w)
            w *= 2
        return out
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if "..." in tokens:
        return _progression(text, tokens, one)
    widths = [one(t) for t in tokens]
    if any(w < 1 for w in widths):
        raise UserError(f"widths must be >= 1 (got {text}); pass e.g. --widths 16,64,256")
    return widths


def _progression(text: str, tokens: list[str], one) -> list[int]:  # noqa: ANN001
    """``64,128,...,2048``: the geometric progression the first two widths start, up to the last."""
    i = tokens.index("...")
    if i < 2 or i != len(tokens) - 2:
        raise UserError(f"cannot read --widths {text!r}; write e.g. 64,128,...,2048 (two widths, ..., the last)")
    head, last = [one(t) for t in tokens[:i]], one(tokens[-1])
    ratio = head[1] // head[0] if head[0] >= 1 else 0
    if ratio < 2 or any(b != a * ratio for a, b in zip(head, head[1:], strict=False)) or last < head[-1]:
        raise UserError(f"cannot read --widths {text!r}; the widths before '...' must grow by a whole factor "
                        "(e.g. 64,128,...,2048) and the last must be reached by it")
    widths = list(head)
    while widths[-1] * ratio <= last:
        widths.append(widths[-1] * ratio)
    if widths[-1] != last:
        raise UserError(f"cannot read --widths {text!r}: {last} is not {head[0]} times a power of {ratio}")
    return widths


def parse_float(text: str, flag: str, *, minimum: float | None = None, positive: bool = False) -> float:
    """A finite number from ``text`` (NaN and inf refused), optionally ``> 0`` or ``>= minimum``."""
    import math

    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{flag} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number, got {text!r}")
    if positive and value <= 0:
        raise UserError(f"{flag} must be a positive number, got {text!r}")
    if minimum is not None and value < minimum:
        raise UserError(f"{flag} must be a number >= {minimum:g}, got {text!r}")
    return value



def check_threads(threads: int | None, default: int | None) -> int | None:
    """``--threads``: ``None`` -> ``default`` (the measured best for the kind of work), 0 -> torch's own
    default (None), else a positive count."""
    if threads is None:
        return default
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise UserError(f"--threads must be an integer >= 0 (0 keeps torch's default), got {threads!r}")
    return threads or None


def check_network_memory(
    widths: list[int] | tuple[int, ...],
    depth: int,
    *,
    d_in: int,
    d_out: int,
    batch: int,
    itemsize: int,
    copies: int,
    advice: str,
    device: object = None,
) -> None:
    """Refuse, up front, MLPs whose widest net cannot fit in memory (``copies`` of its parameters:
    weights, initial weights, gradients, optimizer state), naming the options that shrink them."""
    from infwidth.device import require_memory

    n = max(widths)
    params = n * (d_in + d_out) + max(depth - 1, 0) * n * n
    activations = 4 * batch * n * depth
    require_memory(itemsize * (copies * params + activations), f"width-{n:,} networks with {depth:,} hidden layers",
                   advice, device)
