"""``infwidth maml train|eval``: few-shot Omniglot with first-order MAML (muP widths, limit, GP/NTK)."""

from __future__ import annotations

from pathlib import Path

import typer

from infwidth.cli.app import app

maml = typer.Typer(
    help="Omniglot 1-shot 5-way with first-order MAML: finite muP widths, the exact muP limit, GP/NTK baselines.",
    no_args_is_help=True,
)
app.add_typer(maml, name="maml")


@maml.command("train")
def train_cmd(
    out: Path = typer.Option(..., "--out", help="Run directory (run.json, checkpoint.pt, test accuracies)."),
    model: str = typer.Option("mup", "--model", help="mup, gp-relu, ntk-relu, gp-linear or ntk-linear."),
    width: str = typer.Option(None, "--width", help="muP width (e.g. 512) or 'limit' (default) for the exact limit."),
    profile: str = typer.Option("default", "--profile", help="default (minutes) or paper (100 epochs x 100 batches)."),
    seed: int = typer.Option(0, "--seed", help="Seed for tasks and the finite net's coupling to the limit."),
    data: str = typer.Option(None, "--data", help="Data directory (default: $INFWIDTH_DATA)."),
    meta_lr: float = typer.Option(None, "--meta-lr", help="Meta learning rate (default: the paper's preset)."),
    sigma_u: float = typer.Option(None, "--sigma-u", help="Input-layer scale (default: preset)."),
    sigma_v: float = typer.Option(None, "--sigma-v", help="Readout scale (default: preset)."),
    alpha: float = typer.Option(None, "--alpha", help="Hidden-bias multiplier (default: preset)."),
    sigma_b: float = typer.Option(None, "--sigma-b", help="Kernel baselines: ReLU first-layer bias std."),
    epochs: int = typer.Option(None, "--epochs", help="Meta-training epochs (default: profile)."),
    batches: int = typer.Option(None, "--batches", help="Meta-batches per epoch (default: profile)."),
    val_batches: int = typer.Option(None, "--val-batches", help="Meta-val meta-batches per epoch."),
    test_batches: int = typer.Option(None, "--test-batches", help="Meta-test meta-batches (x meta-batch tasks)."),
    meta_batch: int = typer.Option(None, "--meta-batch", help="Tasks per meta-batch (paper: 32)."),
    ways: int = typer.Option(None, "--ways", help="Classes per task (paper: 5)."),
    shots: int = typer.Option(None, "--shots", help="Support examples per class (paper: 1)."),
    queries: int = typer.Option(None, "--queries", help="Query examples per class (paper: 1)."),
    test_steps: int = typer.Option(None, "--test-steps", help="Inner SGD steps at meta-test (default 1)."),
    dtype: str = typer.Option(None, "--dtype", help="float32 (default for muP) or float64."),
    simulate: bool = typer.Option(False, "--simulate", help="Train the exact width-789 stand-in of the width-N net "
                                  "(same outputs, cost independent of N)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last epoch."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different run in --out."),
    device: str = typer.Option("auto", "--device", help="torch device: auto, cpu, cuda, ..."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: torch's own; 1 on a busy machine)."),
) -> None:
    """Meta-train one model, keep the best meta-val checkpoint, report meta-test accuracy (95% CI)."""
    from infwidth.cli._options import check_threads
    from infwidth.device import MAML_THREADS, torch_threads
    from infwidth.experiments.maml.config import make_config
    from infwidth.experiments.maml.experiment import train
    from infwidth.experiments.maml.models import parse_width

    n_threads = check_threads(threads, MAML_THREADS)
    w = parse_width(width or "limit") if model == "mup" else width  # make_config refuses a width for a kernel
    if model == "mup" and w is not None and not simulate:
        from infwidth.device import require_memory

        # the width-n net (784 -> n -> ways), its meta-gradient, the best and current states: ~6 copies
        require_memory(6 * 4 * w * (28 * 28 + 1 + (ways or 5)), f"a width-{w:,} MAML net and its states",
                       "use a smaller --width, or --simulate (exact, cost independent of the width)")
    cfg = make_config(model, w, profile, meta_lr=meta_lr, sigma_u=sigma_u, sigma_v=sigma_v, alpha=alpha,
                      sigma_b=sigma_b, epochs=epochs, batches=batches, val_batches=val_batches,
                      test_batches=test_batches, meta_batch=meta_batch, ways=ways, shots=shots, queries=queries,
                      test_steps=test_steps, seed=seed, dtype=dtype,
                      simulate=simulate or None)
    splits = None
    if data is None:
        from infwidth.experiments.maml.data import has_data, sample_splits

        if not has_data():
            splits = sample_splits()
            typer.echo("no Omniglot data directory (--data or $INFWIDTH_DATA): training on the small sample shipped "
                       f"with infwidth ({splits['train'].num_classes // 4} + {splits['val'].num_classes // 4} train "
                       f"characters, {splits['test'].num_classes} test); pass --data DIR for the paper's splits")
    with torch_threads(n_threads):
        res = train(cfg, out, data=data, resume=resume, overwrite=overwrite, device=device, splits=splits)
    typer.echo(f"{cfg.label}: meta-test accuracy {100 * res['test_acc']:.2f}% +- {100 * res['test_ci95']:.2f} "
               f"(95% CI, {res['test_tasks']} tasks, {res['test_steps']} inner step(s)); run: {out}")


@maml.command("eval")
def eval_cmd(
    runs: list[Path] = typer.Argument(..., help="Run directories of 'infwidth maml train' (seeds pool by model)."),
    test_steps: int = typer.Option(None, "--test-steps", help="Re-evaluate with this many inner steps."),
    test_batches: int = typer.Option(None, "--test-batches", help="Meta-test meta-batches when re-evaluating."),
    plot: Path = typer.Option(None, "--plot", help="Save accuracy-vs-width PNG here (limit and baselines as lines)."),
    from_steps: int = typer.Option(None, "--from-steps", help="Summarize the stored re-evaluation with this many steps."),
    paper: bool = typer.Option(False, "--paper", help="Overlay the paper's finite-width accuracies on the plot."),
    data: str = typer.Option(None, "--data", help="Data directory (default: $INFWIDTH_DATA)."),
    device: str = typer.Option("auto", "--device", help="torch device: auto, cpu, cuda, ..."),
) -> None:
    """Summarize finished runs (mean, 95% CI over tasks and seeds); optionally re-evaluate and plot."""
    from infwidth.experiments.maml.experiment import plot_summary, reevaluate, summarize
    from infwidth.runs import check_out_file

    if plot is not None:
        check_out_file(plot, "--plot", (".png",))
    if test_steps is not None or test_batches is not None:
        from infwidth.experiments.maml.data import has_data

        if data is None and not has_data():
            typer.echo("no Omniglot data directory (--data or $INFWIDTH_DATA): re-evaluating on the shipped sample")
        for run in runs:
            res = reevaluate(run, steps=test_steps, batches=test_batches, data=data, device=device)
            typer.echo(f"{run}: {100 * res['test_acc']:.2f}% +- {100 * res['test_ci95']:.2f} "
                       f"({res['test_steps']} steps, {res['test_tasks']} tasks)")
        return
    rows = summarize(runs, steps=from_steps)
    typer.echo("| model | seeds | meta-test accuracy (%) |\n|---|---|---|")
    for r in rows:
        typer.echo(f"| {r['label']} | {len(r['seeds'])} | {100 * r['acc']:.2f} +- {100 * r['ci95']:.2f} |")
    if plot is not None:
        from infwidth.experiments.maml.models import PAPER_ACCURACY

        reference = PAPER_ACCURACY["finite"] if paper else None
        typer.echo(f"plot: {plot_summary(rows, plot, reference=reference)}")
