"""Error rates of the coordinate-check verdict over a grid of settings, in both directions.

Correct parametrizations (muP, NTP; SGD and Adam; relu/tanh/gelu; depth 2-4; d_in 32 and 3072;
narrow widths from 16; batch 8-64) should never FAIL; broken ones (SP with a width-independent
rate at depth >= 2, UP_{1/4} and UP_{1/2} measured against muP's predictions, muP with its readout
initialized n^{1/2} too large) should never PASS. Prints one line per setting and the counts.

    python scripts/coordcheck_verdict_grid.py [--part I/K] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from fractions import Fraction

from infwidth.coordcheck import predicted_sizes, run_coordcheck
from infwidth.parametrizations import from_exponents, mup, ntp, sp, up

WIDE = [64, 128, 256, 512, 1024, 2048]
NARROW = [16, 32, 64, 128, 256]


def wrong_readout(depth: int):
    """muP with the readout initialized n^{1/2} too large (b_{L+1} - 1/2): what a missing 1/n gives."""
    p = mup(depth)
    return from_exponents(a=list(p.a), b=list(p.b[:-1]) + [p.b[-1] - Fraction(1, 2)], c=p.c)


def cases() -> list[tuple[str, str, object, list[int], dict, object]]:
    """(direction, label, parametrization, widths, settings, measured_as) for every grid point."""
    out = []
    for L in (2, 3, 4):
        for phi in ("relu", "tanh", "gelu"):
            out.append(("correct", f"mup L{L} {phi} d_in 3072", mup(L), WIDE, dict(d_in=3072, nonlinearity=phi), None))
            out.append(("correct", f"mup L{L} {phi} 16..256 batch 32", mup(L), NARROW, dict(nonlinearity=phi), None))
        out.append(("correct", f"mup L{L} adam", mup(L), WIDE[:4], dict(optimizer="adam", lr=0.01), None))
        out.append(("correct", f"mup L{L} 16..256 batch 64 steps 3", mup(L), NARROW, dict(batch=64, steps=3), None))
        out.append(("correct", f"mup L{L} 16..256 batch 1 steps 1", mup(L), NARROW, dict(batch=1, steps=1), None))
        out.append(("correct", f"ntp L{L} d_in 3072", ntp(L), WIDE, dict(d_in=3072), None))
        out.append(("broken", f"sp c=0 L{L}", sp(L), WIDE[:5], dict(), None))
        out.append(("broken", f"sp c=0 L{L} d_in 3072", sp(L), WIDE, dict(d_in=3072), None))
        for s in ("1/4", "1/2"):
            out.append(("broken", f"up({s}) as mup L{L} d_in 3072", up(s, L), WIDE, dict(d_in=3072), mup(L)))
            out.append(("broken", f"up({s}) as mup L{L} 16..256", up(s, L), NARROW, dict(), mup(L)))
        out.append(("broken", f"wrong readout L{L} d_in 3072", wrong_readout(L), WIDE, dict(d_in=3072), mup(L)))
    return out


def run_case(p, widths, kw, measured_as):
    kw = dict(steps=2, seeds=3, lr=0.1, d_in=32) | kw
    cc = run_coordcheck(p, widths, **kw)
    if measured_as is not None:  # a network that should have been `measured_as` but is built wrong
        cc.predicted = predicted_sizes(measured_as, cc.steps, cc.optimizer, None, kw.get("nonlinearity", "relu"))
    return cc.verdict()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="1/1", help="run every K-th case starting at I (I/K), to split over processes")
    ap.add_argument("--json", default=None, help="write the per-case verdicts here")
    args = ap.parse_args(argv)
    i, k = (int(x) for x in args.part.split("/"))
    rows = []
    for j, (direction, label, p, widths, kw, as_) in enumerate(cases()):
        if j % k != i - 1:
            continue
        verdict, reason = run_case(p, widths, kw, as_)
        rows.append({"direction": direction, "label": label, "verdict": verdict, "reason": reason})
        print(f"{direction:8s} {label:36s} {verdict:12s} {reason[:110]}", flush=True)
    counts = Counter((r["direction"], r["verdict"]) for r in rows)
    for d in ("correct", "broken"):
        n = sum(v for (dd, _), v in counts.items() if dd == d)
        print(f"{d}: {n} settings, " + ", ".join(f"{v} {counts[(d, v)]}" for v in ("pass", "inconclusive", "fail")))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
