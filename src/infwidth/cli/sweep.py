"""``infwidth sweep run|status|report``: width x hyperparameter sweeps, resumable, on one process, local processes or Ray."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from infwidth.cli.app import app
from infwidth.errors import UserError

sweep = typer.Typer(
    help="Sweeps over width x learning rate x seed of one unit of work, resumable, with a transfer verdict.",
    no_args_is_help=True,
)
app.add_typer(sweep, name="sweep")


@sweep.command("run")
def run_cmd(
    config: str = typer.Argument(..., help="A sweep config file (.toml/.json) or a shipped sweep: transfer-tiny, transfer-gpt, transfer-gpt-cpu, coordcheck-100."),
    out: Path = typer.Option(..., "--out", help="Sweep directory: run.json, points/<key>.json, results.*, plots."),
    executor: str = typer.Option("local", "--executor", help="local (in process, sequential), processes, or ray."),
    workers: int = typer.Option(None, "--workers", help="Worker processes (processes: default 2; ray: CPUs of the local instance)."),
    address: str = typer.Option(None, "--address", help="Ray cluster to attach to (HOST:PORT, ray://HOST:PORT or auto); default: start a local one."),
    gpus_per_point: float = typer.Option(0.0, "--gpus-per-point", help="ray: GPUs reserved per point (e.g. 1 or 0.25)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another sweep held in --out (points with identical configs are reused)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun points that failed before (finished points are always skipped)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Run every point not yet finished in OUT (rerunning resumes), then print the report."""
    from infwidth.sweeps import EXECUTORS, load_sweep, report, run_sweep

    if executor not in EXECUTORS:
        raise UserError(f"unknown --executor {executor!r}; choose {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be a positive integer, got {workers}")
    if address is not None and executor != "ray":
        raise UserError("--address is for the ray executor; add --executor ray or drop --address")
    if gpus_per_point and executor != "ray":
        raise UserError("--gpus-per-point is for the ray executor; add --executor ray or drop it")
    if gpus_per_point < 0:
        raise UserError(f"--gpus-per-point must be >= 0, got {gpus_per_point}")
    if workers is not None and executor == "local":
        raise UserError("--workers needs --executor processes or ray (local runs one point at a time)")
    spec = load_sweep(config)
    summary = run_sweep(spec, out, executor=executor, workers=workers, address=address,
                        gpus_per_point=gpus_per_point, overwrite=overwrite, retry_failed=retry_failed,
                        progress=not quiet)
    print(f"ran {summary['ran']} point(s) in {summary['wall_seconds']:.1f} s with the {summary['executor']} executor")
    _print_report(report(out))


@sweep.command("status")
def status_cmd(out: Path = typer.Argument(..., help="A sweep directory.")) -> None:
    """Points finished, failed and pending, and the best so far."""
    from infwidth.sweeps import read_points, read_sweep, summarize

    spec = read_sweep(out)
    s = summarize(spec, read_points(out))
    print(f"sweep {spec.name or spec.unit} (unit {spec.unit}): {s['points']} points, {s['ok']} ok, "
          f"{s['failed']} failed, {s['pending']} pending; {s['point_seconds']:.1f} s of point time")
    if s["best"]:
        print(f"best {s['best']['metric']} {s['best']['value']:.4g} at {_axes(s['best']['axes'])}")


@sweep.command("report")
def report_cmd(
    out: Path = typer.Argument(..., help="A sweep directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Write results.csv/.json(/.parquet) and the plots; print the table summary and the transfer verdict."""
    from infwidth.sweeps import report

    result = report(out)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_report(result)


def _axes(axes: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in axes.items())


def _print_report(result: dict) -> None:
    print(f"{result['points']} points: {result['ok']} ok, {result['failed']} failed, {result['pending']} pending")
    for err in result["errors"][:5]:
        print(f"  failed at {_axes(err['axes'])}: {err['error']}")
    if result["failed"] > 5:
        print(f"  ... and {result['failed'] - 5} more failed point(s): see results.csv")
    if result.get("best"):
        print(f"best {result['best']['metric']} {result['best']['value']:.4g} at {_axes(result['best']['axes'])}")
    for _name, verdict in (result.get("transfer") or {}).items():
        print(verdict["message"])
        stars = ", ".join(f"{w}: " + ("?" if x is None else f"2^{x:.2f}") + ("" if s is None else f"±{s:.2f}")
                          for w, x, s in zip(verdict["widths"], verdict["log2_lr_star"], verdict["log2_lr_star_std"], strict=True))
        print(f"  lr* by width: {stars}")
    if result.get("transfer_error"):
        from infwidth.cli._flags import to_flags

        print(f"no transfer verdict: {to_flags(result['transfer_error'], ('sweep', 'report'))}")
    if result.get("transfer_tolerance") and result.get("transfer"):
        print(f"tolerance: {result['transfer_tolerance']}")
    print(f"wrote {', '.join(result['files'])}")
