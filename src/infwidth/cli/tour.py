"""``infwidth tour``: run every section of the main job and save a report."""

from __future__ import annotations

from pathlib import Path

import typer

from infwidth.cli.app import app
from infwidth.errors import UserError


@app.command("tour")
def tour(
    out: Path = typer.Option(Path("tour-report"), "--out", help="Directory for report.md, report.json and plots."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random choice in the tour."),
    only: str = typer.Option("", "--only", help="Comma-separated section names to run (default: all)."),
    device: str = typer.Option("auto", "--device", help="torch device: auto, cpu, cuda, ..."),
    threads: int = typer.Option(
        1, "--threads", help="torch CPU threads (its many small ops run fastest on one; 0 keeps torch's default)."
    ),
) -> None:
    """Run the main job: classify the named parametrizations, check coordinates, take the limits,
    and run small Word2Vec and MAML experiments; writes OUT/report.md and OUT/report.json."""
    from rich.console import Console
    from rich.markdown import Markdown

    from infwidth import tour as tour_mod
    from infwidth.device import resolve_device, torch_threads
    from infwidth.runs import (
        atomic_write_bytes,
        atomic_write_json,
        check_out_dir,
        lock_run_dir,
        seed_everything,
        versions,
    )

    if threads < 0:
        raise UserError(f"--threads must be >= 0, got {threads}; use 1 (default) or 0 for torch's default")
    names = tour_mod.available_sections()
    if only:
        wanted = [s.strip() for s in only.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in tour_mod.SECTIONS]
        if unknown:
            raise UserError(f"unknown tour section(s) {', '.join(unknown)}; choose from {', '.join(tour_mod.SECTIONS)}")
        names = [s for s in names if s in wanted]
    resolve_device(device)  # an unavailable device fails before anything is created
    check_out_dir(out)
    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    lock_run_dir(out)  # released when the command ends (infwidth.cli.main)
    ctx = tour_mod.TourContext(out=out, seed=seed, device=device, console=console)
    results = []
    for i, name in enumerate(names, 1):
        console.rule(f"[bold]{i}/{len(names)} {name}")
        seed_everything(seed)
        with torch_threads(threads or None):
            res, seconds = tour_mod.run_section(name, ctx)
        # figures relative to the report
        res.figures = [Path(f).resolve().relative_to(out.resolve()) for f in res.figures]
        console.print(Markdown(res.markdown))
        for fig in res.figures:
            console.print(f"  figure: {out / fig}")
        console.print(f"  [dim]{seconds:.1f} s[/dim]")
        results.append((name, res, seconds))
    header = f"# infwidth tour report\n\nMade by `infwidth tour --seed {seed}`.\n"
    atomic_write_bytes(out / "report.md", tour_mod.render_markdown(results, header).encode())
    atomic_write_json(
        out / "report.json",
        {
            "seed": seed,
            "versions": versions(),
            "sections": {
                name: {"title": r.title, "numbers": r.numbers, "figures": [str(f) for f in r.figures], "seconds": s}
                for name, r, s in results
            },
        },
    )
    console.rule()
    console.print(f"report: {out / 'report.md'}  ({len(results)} sections)")
