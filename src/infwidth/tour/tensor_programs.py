"""Tour section: the Tensor-Program engine takes deep nonlinear muP nets to their limit."""

from __future__ import annotations

from infwidth.tour import SectionResult, TourContext

TITLE = "Tensor Programs: deep ReLU and tanh muP nets converge to the engine's limit"

CASES = (("relu", 3, 2**15), ("tanh", 2, 2**13))  # nonlinearity, depth, particles M


def run(ctx: TourContext) -> SectionResult:
    from infwidth.device import torch_threads
    from infwidth.studies.converge import (
        ConvergenceConfig,
        plot_convergence,
        run_convergence,
    )

    out = ctx.section_dir("tensor_programs")
    results = []
    with torch_threads(1):  # many small tensor ops
        for phi, depth, particles in CASES:
            ctx.log(f"mlp L={depth} {phi}: the engine's limit, then finite muP nets of widths 2^6..2^10")
            cfg = ConvergenceConfig("mlp", depth=depth, nonlinearity=phi, steps=3, batch=4, lr=0.3,
                                    widths=(64, 128, 256, 512, 1024), seeds=4, particles=particles, seed=ctx.seed)
            results.append(run_convergence(cfg))
    png = plot_convergence(results, out / "convergence.png")
    rows, numbers = [], {}
    for res in results:
        c, lim = res.config, res.limit
        name = f"L={c['depth']} {c['nonlinearity']}"
        rows.append(f"| {name} | {lim['instructions']} | {lim['particles']} | {lim['seconds']:.1f} | "
                    f"{lim['limit_f_se']:.1e} | {res.f_error[-1]:.1e} | {res.f_slope:.2f} | {res.kernel_slope:.2f} | "
                    f"{res.limit_kernel_movement:.2f} |")
        numbers[name] = {"f_slope": res.f_slope, "kernel_slope": res.kernel_slope, "f_error": res.f_error,
                         "kernel_error": res.kernel_error, "widths": res.widths, "limit": lim,
                         "limit_kernel_movement": res.limit_kernel_movement}
    markdown = f"""
No hand derivation: the SGD run of a deep muP MLP (forward, backward and weight updates, batch 4,
3 steps) is written automatically as a Tensor Program, and the engine computes its infinite-width
limit by the Master Theorem (Monte Carlo over particles, with a standard error). Finite muP nets
`p.mlp(n)` trained by `net.sgd` approach it (4 seeds per width); the fitted slopes should be near
-1/2 (this short run is noisy; `tests/limits/feature_learning/test_tp_mlp.py` has the long check).

| net | program instructions | particles M | limit s | limit SE (f) | gap at n=1024 | slope f | slope kernel | limit kernel movement |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Command: `infwidth converge --model mlp --depth 3 --nonlinearity relu --steps 3 --batch 4 --lr 0.3
--widths 2^6..2^10 --seeds 4 --particles 32768 --out DIR`.
"""
    return SectionResult(TITLE, markdown, numbers, [png])
