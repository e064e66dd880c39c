"""``infwidth converge``: finite muP nets of many widths against their infinite-width limit."""

from __future__ import annotations

from pathlib import Path

import typer

from infwidth.cli._options import check_network_memory, parse_widths
from infwidth.cli.app import app
from infwidth.errors import UserError


def _parse_lr(text: str) -> float:
    from fractions import Fraction

    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise UserError(f"cannot read --lr {text!r}; write e.g. 0.5 or 1/2") from None
    return value


def _read_partial(path: Path, steps: int) -> dict[int, tuple[list[float], list[float]]]:
    """The per-width errors an interrupted run saved; a damaged file is a one-line error."""
    import math

    from infwidth.runs import read_json

    fix = "delete it to recompute those widths, or pass --overwrite to start afresh"
    done = {}
    for key, value in read_json(path, fix).items():
        try:
            f_err, k_err = ([float(x) for x in part] for part in value)
            width = int(key)
        except (TypeError, ValueError):
            raise UserError(f"{path} has a damaged entry for width {key!r}; {fix}") from None
        if len(f_err) != steps + 1 or len(k_err) != steps + 1 or not all(map(math.isfinite, f_err + k_err)):
            raise UserError(f"{path} has a damaged entry for width {key!r}; {fix}")
        done[width] = (f_err, k_err)
    return done


@app.command("converge")
def converge(
    model: str = typer.Option(..., "--model", help="mlp (any --depth/--nonlinearity; Tensor-Program limit), or a preset: linear1, relu1, tanh1, linear-deep."),
    out: Path = typer.Option(..., "--out", help="Directory for run.json, convergence.json and convergence.png."),
    depth: int = typer.Option(3, "--depth", help="Hidden layers for mlp and linear-deep."),
    nonlinearity: str = typer.Option("relu", "--nonlinearity", help="For mlp: relu, tanh, gelu, erf, sin, identity, leaky_relu[:ALPHA]."),
    steps: int = typer.Option(10, "--steps", help="SGD steps (minibatches of 16 training points)."),
    batch: int = typer.Option(4, "--batch", help="Minibatch size B."),
    particles: int = typer.Option(2**14, "--particles", help="For mlp: Monte-Carlo particles M of the limit (standard error ~ M^-1/2)."),
    widths: str = typer.Option("2^4..2^14", "--widths", help="Comma list (16,64,256) or doubling range (2^4..2^14)."),
    seeds: int = typer.Option(16, "--seeds", help="Finite networks per width."),
    lr: str = typer.Option("auto", "--lr", help="SGD rate, same for limit and finite nets (auto: 0.5; 0.2 for linear-deep)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the task and the finite networks."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in OUT."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different run in OUT."),
    device: str = typer.Option("cpu", "--device", help="torch device: cpu (default; these tensors are tiny), auto, cuda."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default 1: tiny tensors; 0: torch's default)."),
) -> None:
    """Train finite muP nets of many widths and the muP limit on one task; fit the rate |f_n - f_inf| ~ n^slope."""
    import json

    from tqdm import tqdm

    from infwidth.device import resolve_device, torch_threads
    from infwidth.runs import atomic_write_json, prepare_out_dir, seed_everything, write_run_record
    from infwidth.studies.converge import (
        ConvergenceConfig,
        plot_convergence,
        run_convergence,
    )

    cfg = ConvergenceConfig(model=model, depth=depth, steps=steps, widths=tuple(parse_widths(widths)), seeds=seeds,
                            lr=None if lr == "auto" else _parse_lr(lr), seed=seed, device=device, batch=batch,
                            nonlinearity=nonlinearity, particles=particles).check()
    from infwidth.cli._options import check_threads
    from infwidth.device import SMALL_WORK_THREADS

    n_threads = check_threads(threads, SMALL_WORK_THREADS)
    dev = resolve_device(device)  # before the out dir exists: a bad device leaves nothing behind
    deep = cfg.model in ("linear-deep", "mlp")
    check_network_memory(cfg.widths, cfg.depth if deep else 1, d_in=2, d_out=1, batch=16, itemsize=8, copies=4,
                         advice="use smaller --widths" + (" or a smaller --depth" if deep else ""), device=dev)
    config = {**cfg.__dict__, "widths": list(cfg.widths)}
    out_dir, resuming = prepare_out_dir(out, config, resume=resume, overwrite=overwrite)
    partial_path = out_dir / "partial.json"
    done: dict[int, tuple[list[float], list[float]]] = {}
    if resuming and partial_path.exists():
        done = _read_partial(partial_path, cfg.steps)

    def on_width(n: int, f: list[float], k: list[float]) -> None:
        done[n] = (f, k)
        atomic_write_json(partial_path, {str(w): list(v) for w, v in done.items()})

    seed_everything(seed)
    with torch_threads(n_threads):  # tiny tensors: more threads only add contention
        with tqdm(total=len(cfg.widths) * cfg.seeds, desc=f"converge {model}", disable=as_json, leave=False) as bar:
            res = run_convergence(cfg, progress=bar.update, done=done, on_width=on_width)
    results = res.as_dict()
    figure = plot_convergence([res], out_dir / "convergence.png")
    results["figure"] = figure.name
    atomic_write_json(out_dir / "convergence.json", results)
    write_run_record(out_dir, config, results=results)
    if as_json:
        print(json.dumps({k: results[k] for k in (
            "config", "widths", "f_error", "kernel_error", "f_slope", "kernel_slope", "limit",
            "limit_kernel_movement", "limit_f_movement", "seconds", "figure")}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    name = f"mlp L={cfg.depth} {cfg.nonlinearity}" if model == "mlp" else model
    table = Table(title=f"{name}: finite muP nets vs the muP limit ({cfg.steps} steps, {cfg.seeds} seeds/width)")
    for col in ("width", "|f_n - f_inf| (RMS)", "kernel gap (rel., max over t)"):
        table.add_column(col, justify="right")
    for n, fe, ke in zip(res.widths, res.f_error, res.kernel_error, strict=True):
        table.add_row(str(n), f"{fe:.3e}", f"{ke:.3e}")
    console = Console()
    console.print(table)
    console.print(f"fitted slope: outputs {res.f_slope:.3f}, feature kernels {res.kernel_slope:.3f} (theory -1/2)")
    console.print(f"limit: {res.limit}; its feature kernel moved by {res.limit_kernel_movement:.3f} (relative)")
    console.print(f"wrote {out_dir / 'convergence.json'} and {figure}")
