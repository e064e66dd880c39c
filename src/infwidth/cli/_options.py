"""Option parsers shared by CLI commands (one-line errors for bad text)."""

from __future__ import annotations

from infwidth.errors import UserError


def parse_widths(text: str) -> list[int]:
    """``--widths``: ``16,64,256``, powers ``2^4,2^6``, or a doubling range ``2^4..2^14`` (``16..16384``)."""
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

    if ".." in text:
        lo, hi = (one(t) for t in text.split("..", 1))
        if lo < 1 or hi < lo:
            raise UserError(f"bad width range {text!r}; write LOW..HIGH with 1 <= LOW <= HIGH, e.g. 2^4..2^14")
        out = []
        w = lo
        while w <= hi:
            out.append(w)
            w *= 2
        return out
    widths = [one(t) for t in text.split(",") if t.strip()]
    if any(w < 1 for w in widths):
        raise UserError(f"widths must be >= 1 (got {text}); pass e.g. --widths 16,64,256")
    return widths
