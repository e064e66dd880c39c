"""Tour section: feature-learning (muP) limits, finite nets converging to them, and muP vs NTP."""

from __future__ import annotations

from infwidth.tour import SectionResult, TourContext

TITLE = "Feature learning: muP limits and finite networks converging to them"


def run(ctx: TourContext) -> SectionResult:
    from infwidth.device import torch_threads
    from infwidth.limits.feature_learning.linear import LinearMupLimit
    from infwidth.studies.contrast import plot_contrast, run_contrast
    from infwidth.studies.converge import (
        PRESETS,
        ConvergenceConfig,
        plot_convergence,
        run_convergence,
    )

    out = ctx.section_dir("feature_learning")
    with torch_threads(1):  # tiny tensors: threads only add contention
        results = []
        for model in PRESETS:
            seeds = 8 if model == "linear-deep" else 16  # the deep finite nets cost most; keep the section < 60 s
            ctx.log(f"converge {model}: widths 2^4..2^14, {seeds} seeds each")
            results.append(run_convergence(ConvergenceConfig(model, seeds=seeds, seed=ctx.seed)))
        ctx.log("muP vs NTP: kernel and feature movement against width")
        contrast = run_contrast(seed=ctx.seed)
        # the exact finite-width simulator against a real width-1024 network, 10 SGD steps
        from infwidth.limits.sgd import train_module
        from infwidth.studies.converge import make_task

        x, y, ex = make_task("linear1", ctx.seed)
        lim = LinearMupLimit(2, 1, alpha=1.0)
        real = train_module(lim.sample(1024, ctx.seed), x, y, 0.5, 10, 4, ex)
        sim = lim.finite_trajectory(1024, ctx.seed, x, y, 0.5, 10, 4, ex)  # the exact simulator
        sim_gap = float((real.f - sim.f).abs().max())
    conv_png = plot_convergence(results, out / "convergence.png")
    contrast_png = plot_contrast(contrast, out / "mup_vs_ntp.png")

    rows = []
    numbers: dict = {"simulator_vs_real_max_abs": sim_gap, "contrast": contrast.as_dict()}
    for res in results:
        m = res.config["model"]
        rows.append(f"| {m} | {res.limit['method']} | {res.f_slope:.3f} | {res.kernel_slope:.3f} | "
                    f"{res.f_error[-1]:.2e} | {res.limit_kernel_movement:.2f} | {res.seconds:.1f} |")
        numbers[m] = {"f_slope": res.f_slope, "kernel_slope": res.kernel_slope, "f_error": res.f_error,
                      "kernel_error": res.kernel_error, "widths": res.widths,
                      "limit_kernel_movement": res.limit_kernel_movement, "limit": res.limit}
    mup, ntp = contrast.movement["mup"], contrast.movement["ntp"]
    markdown = f"""
The muP limit of a network is itself computable: an exact width-(d+d_o) linear net for 1 hidden
linear layer, a neuron-wise (mean-field) recursion integrated by quadrature for 1 hidden nonlinear
layer, and Tensor-Program bookkeeping (jointly Gaussian variables) for deep linear nets. Finite muP
nets of widths 2^4..2^14 trained on the same data with the same SGD ({results[0].config['steps']}
steps, 16 seeds per width, 8 for linear-deep) approach each limit; the fitted rate should be -1/2.

| model | limit computed by | slope of \\|f_n - f_inf\\| | slope of kernel gap | gap at n=2^14 | limit kernel movement | s |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The exact finite-width simulator of the 1-hidden-layer linear net (a width-(d+d_o) net started at
(R A_0, C_0 R^T), R^T R = Omega^T Omega / n) equals a real width-1024 network after 10 SGD steps to
{sim_gap:.1e}.

**muP vs NTP** on one task (ReLU, 1 hidden layer, lr {contrast.config['lr']}, {contrast.config['steps']} steps):
the last-layer feature kernel moves by {mup[0]:.2f} .. {mup[-1]:.2f} (relative) in muP at every width
(slope {contrast.slopes['mup']:.2f}; the muP limit predicts {contrast.limit_movement:.2f}), and by
{ntp[0]:.1e} .. {ntp[-1]:.1e} in NTP (slope {contrast.slopes['ntp']:.2f}: the kernel's first-order change
averages out, so ~1/n, inside the O(n^-1/2) bound); the activations themselves move with slope
{contrast.feature_slopes['ntp']:.2f} in NTP (theory -1/2) and {contrast.feature_slopes['mup']:.2f} in muP.
Rerun: `infwidth converge --model MODEL --out DIR` (one model) or `infwidth tour --only feature_learning`.
"""
    return SectionResult(TITLE, markdown, numbers, [conv_png, contrast_png])
