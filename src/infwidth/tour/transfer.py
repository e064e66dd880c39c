"""Tour section: hyperparameter transfer (muTransfer) in minutes, as a sweep with a verdict."""

from __future__ import annotations

from typing import Any

from infwidth.tour import SectionResult, TourContext

TITLE = "Hyperparameter transfer: the best Adam learning rate across width (muP vs SP)"
SWEEP = "transfer-tiny"


def run(ctx: TourContext) -> SectionResult:
    from infwidth.sweeps import load_sweep, report, run_sweep

    out = ctx.section_dir("transfer")
    sweep = load_sweep(SWEEP)
    n = len(sweep.points())
    ctx.log(f"sweep {SWEEP}: {n} training runs (param x width x lr x seed), resumable in {out}")
    summary = run_sweep(sweep, out, progress=ctx.console is not None)
    rep = report(out)
    verdicts: dict[str, Any] = rep["transfer"]
    base, axes = sweep.base, sweep.axes
    lines = [
        f"A {base['depth']}-hidden-layer ReLU MLP reads the previous {base['context']} characters of the shipped "
        f"Wikipedia sample (one-hot, 27 symbols) and predicts the next; Adam, {base['steps']} steps of batch "
        f"{base['batch']}. muP uses the per-layer Adam rates of Tensor Programs V (rate 1 on input weights, 1/n on "
        "hidden and output weights, in the abc form of Tensor Programs IV's Table 3); SP uses one Adam rate "
        f"for every tensor. Grid: widths {', '.join(map(str, axes['width']))}, learning rates 2^-11..2^0, "
        f"seeds {len(axes['seed'])}; {summary['points']} runs, {summary['failed']} failed. The metric is the "
        "validation cross-entropy (nats/char).",
        "",
        "At each width the optimum log2 lr* is the vertex of the parabola through the best grid point and its "
        "neighbours (seed mean; spread: bootstrap over seeds). The drift is the slope of log2 lr* against log2 "
        f"width; the check passes when |drift| <= {rep['transfer_tolerance'].removeprefix('|drift| <= ')}.",
        "",
        "| parametrization | lr* by width | drift per doubling (90% bootstrap) | verdict |",
        "|---|---|---|---|",
    ]
    numbers: dict[str, Any] = {"points": rep["points"], "failed": rep["failed"]}
    for name, v in verdicts.items():
        stars = ", ".join(f"{w}: " + ("?" if x is None else f"2^{x:.2f}") for w, x in zip(v["widths"], v["log2_lr_star"], strict=True))
        drift = "n/a" if v["drift_per_doubling"] is None else f"{v['drift_per_doubling']:+.2f}"
        lo, hi = v["drift_ci90"]
        ci = "" if lo is None else f" [{lo:+.2f}, {hi:+.2f}]"
        lines.append(f"| {name} | {stars} | {drift}{ci} | "
                     f"{'pass' if v['pass'] else 'fail'} |")
        numbers[name] = {"pass": v["pass"], "drift_per_doubling": v["drift_per_doubling"], "lr_star": v["lr_star"]}
    lines += ["", *[f"- {v['message']}" for v in verdicts.values()], "",
              "Expected (Tensor Programs V): the muP optimum stays put (pass) while SP's moves to smaller rates as "
              "width grows (fail): tune the narrow model, reuse its rate on the wide one only in muP.", "",
              f"Rerun: `infwidth sweep run {SWEEP} --out transfer-tiny` (add `--executor processes` or "
              "`--executor ray` to spread the points; rerunning resumes)."]
    figures = [out / "loss_vs_lr.png", out / "best_lr_vs_width.png"]
    return SectionResult(title=TITLE, markdown="\n".join(lines), numbers=numbers, figures=figures)
