"""``infwidth coordcheck``: train a parametrization's MLP at several widths and test its scaling exponents."""

from __future__ import annotations

from pathlib import Path

import typer

from infwidth.cli._options import check_network_memory, parse_widths
from infwidth.cli.app import app
from infwidth.errors import UserError, check_int


def parse_positive(text: str, what: str) -> float:
    """A positive finite float from a string; one-line error otherwise."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{what} must be a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{what} must be a positive finite number, got {text!r}")
    return value


def build_parametrization(
    preset: str | None, depth: int | None, a: str | None, b: str | None, c: str | None, s: str | None
):  # -> Parametrization
    """The parametrization from ``--preset`` (with ``--depth``, ``--c``, ``--s``) or ``--a/--b/--c``,
    with exactly the rules (and messages) of ``infwidth classify``."""
    from infwidth.cli.classify import build

    return build(preset, None if depth is None else str(depth), c, s, a, b)


@app.command("coordcheck")
def coordcheck(
    out: Path = typer.Option(..., "--out", help="Directory for coordcheck.json, run.json and the PNG plots."),
    preset: str = typer.Option(None, "--preset", help="Named parametrization: sp, ntp, mfp, mup, up."),
    depth: int = typer.Option(None, "--depth", help="Number of hidden layers L (with --preset)."),
    a: str = typer.Option(None, "--a", help="Multiplier exponents a_1..a_(L+1), e.g. -1/2,0,1/2."),
    b: str = typer.Option(None, "--b", help="Init exponents b_1..b_(L+1), e.g. 1/2,1/2,1/2."),
    c: str = typer.Option(None, "--c", help="Learning-rate exponent c (overrides the preset's)."),
    s: str = typer.Option(None, "--s", help="s of preset up (0 = muP, 1/2 = NTP)."),
    model: str = typer.Option(None, "--model", help="Check a reference model instead of the MLP: gpt (widths = d_model)."),
    widths: str = typer.Option(None, "--widths", help="Increasing widths: comma list (64,128,256) or doubling range (2^6..2^11); default 2^6..2^11 (MLP), 64,128,256,512 (gpt)."),
    steps: int = typer.Option(3, "--steps", help="Training steps (updates) T."),
    seeds: int = typer.Option(3, "--seeds", help="Independent seeds K per width."),
    optimizer: str = typer.Option("sgd", "--optimizer", help="sgd or adam (per-layer rates keeping the regime)."),
    adam_c: str = typer.Option(None, "--adam-c", help="Explicit per-layer Adam exponents c_1..c_(L+1) (rate eta n^-c_l)."),
    lr: str = typer.Option(None, "--lr", help="Base learning rate eta (default 0.1 for sgd, 0.001 for adam)."),
    d_in: int = typer.Option(32, "--d-in", help="Input dimension."),
    d_out: int = typer.Option(10, "--d-out", help="Output dimension (classes)."),
    batch: int = typer.Option(32, "--batch", help="Batch size (one fixed batch)."),
    nonlinearity: str = typer.Option("relu", "--nonlinearity", help="relu, tanh, gelu, erf, sin, identity (= linear), leaky_relu[:ALPHA]."),
    form: str = typer.Option("abc", "--form", help="abc (the paper's form) or practical (mup form): same outputs."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or float64."),
    device: str = typer.Option("auto", "--device", help="torch device: auto, cpu, cuda, ..."),
    seed: int = typer.Option(0, "--seed", help="First seed; seeds are seed..seed+K-1."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads during the check (0: torch's default)."),
    tolerance: str = typer.Option(None, "--tolerance", help="Base slope tolerance (plus 3 seed standard errors); default 0.1 (MLP), 0.15 (gpt)."),
    fit_from: int = typer.Option(None, "--fit-from", help="Fit slopes on widths >= this only."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run already in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON result on stdout."),
) -> None:
    """Coordinate check: RMS of h^l, x^l, f and their changes vs width; fitted log-log slopes compared
    with the classification's exponents (pass, fail or inconclusive per quantity); plots per step.
    Exit 1 if any fails, 3 if none fails but one is inconclusive (widths pre-asymptotic or too noisy)."""
    import json

    import torch

    from infwidth.coordcheck import (
        CoordCheckConfig,
        format_table,
        plot_coordcheck,
        prediction_note,
        run_config,
    )
    from infwidth.device import resolve_device
    from infwidth.runs import (
        atomic_write_json,
        jsonable,
        prepare_out_dir,
        seed_everything,
        write_run_record,
    )

    if model is not None:
        if depth is not None or a is not None or b is not None:
            raise UserError("--model takes --preset (mup, sp, ntp, up with --s) and --c; drop --depth/--a/--b")
        _model_check(model, out, preset, c, s, widths or "64,128,256,512", steps, seeds, optimizer, adam_c, lr, device,
                     seed, threads, tolerance or "0.15", plots, overwrite, as_json)
        return
    widths = widths or "64,128,256,512,1024,2048"
    tolerance = tolerance or "0.1"
    p = build_parametrization(preset, depth, a, b, c, s)
    width_list = parse_widths(widths)
    opt = optimizer.strip().lower()
    if opt not in ("sgd", "adam"):
        raise UserError(f"--optimizer must be sgd or adam, got {optimizer!r}")
    eta = parse_positive(lr, "--lr") if lr is not None else (0.1 if opt == "sgd" else 1e-3)
    tol = parse_positive(tolerance, "--tolerance")
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if dtype not in dtypes:
        raise UserError(f"--dtype must be float32 or float64, got {dtype!r}")
    for value, what in ((steps, "--steps"), (seeds, "--seeds"), (d_in, "--d-in"), (d_out, "--d-out"), (batch, "--batch")):
        check_int(value, what)
    if form not in ("abc", "practical"):
        raise UserError(f"--form must be abc or practical, got {form!r}")
    if threads < 0:
        raise UserError(f"--threads must be >= 0 (0 keeps torch's default), got {threads}")
    dev = resolve_device(device, dtypes[dtype])  # auto avoids MPS for float64
    config = {
        "parametrization": p.as_dict(), "widths": width_list, "steps": steps, "seeds": seeds, "optimizer": opt,
        "lr": eta, "d_in": d_in, "d_out": d_out, "batch": batch, "nonlinearity": nonlinearity, "form": form,
        "adam_c": adam_c, "dtype": dtype, "device": str(dev), "seed": seed, "tolerance": tol, "fit_from": fit_from,
    }
    # validate everything cheap before touching the out dir
    adam_list = None
    if adam_c is not None:
        from infwidth.cli.classify import parse_list

        adam_list = parse_list(adam_c, "--adam-c")
        if opt != "adam":
            raise UserError("--adam-c needs --optimizer adam")
        if form != "abc":
            raise UserError("--adam-c is supported with --form abc only; drop --form practical")
        if len(adam_list) != p.depth + 1:
            raise UserError(f"--adam-c has {len(adam_list)} entries but depth {p.depth} needs L+1 = {p.depth + 1}")
    cc_config = CoordCheckConfig(
        p, tuple(width_list), steps=steps, seeds=seeds, optimizer=opt, lr=eta, d_in=d_in, d_out=d_out, batch=batch,
        nonlinearity=nonlinearity, form=form, dtype=dtype, device=str(dev), seed=seed, base_tolerance=tol,
        fit_from=fit_from, adam_c=None if adam_list is None else tuple(adam_list),
    )
    check_network_memory(width_list, p.depth, d_in=d_in, d_out=d_out, batch=batch,
                         itemsize=8 if dtype == "float64" else 4, copies=5, device=dev,
                         advice="use smaller --widths, or a smaller --depth, --d-in or --batch")
    out_dir, _ = prepare_out_dir(out, config, overwrite=overwrite, resumable=False)
    seed_everything(seed)
    from tqdm import tqdm

    bar = tqdm(total=len(width_list) * seeds, desc="coordcheck", unit="run", disable=as_json, leave=False)
    cc = run_config(cc_config, progress=lambda _msg: bar.update(1), threads=threads or None)
    bar.close()
    figures = plot_coordcheck(cc, out_dir) if plots else []
    result = cc.as_dict() | {"plots": [str(f) for f in figures]}
    atomic_write_json(out_dir / "coordcheck.json", result)
    summary = {k: result[k] for k in ("passed", "verdict", "reason", "tested", "inconclusive", "tolerance_rule",
                                      "quantities", "divergences", "plots")}
    write_run_record(out_dir, config, results=summary)
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
    else:
        typer.echo(f"{p!r}, {opt}, lr {eta}, widths {widths}, {steps} steps, {seeds} seeds")
        typer.echo(format_table(cc))
        for d in cc.divergences:
            typer.echo(f"diverged: {d}")
        note = prediction_note(cc_config.nonlinearity)
        if note:
            typer.echo(f"note: {note}")
        if result["tested"] == 0:
            typer.echo("no quantity could be tested: the classification predicts no exponents for this parametrization")
        typer.echo(f"{result['verdict'].upper()}: {result['tested']} quantities tested ({result['tolerance_rule']}); "
                   f"results in {out_dir}")
        for f in figures:
            typer.echo(f"plot: {f}")
    _exit_for(result)


def _exit_for(result: dict) -> None:
    """Exit 0 on pass, 1 on fail, 3 on inconclusive (no quantity failed, one could not be decided; stderr says why)."""
    if not result["passed"]:
        raise typer.Exit(1)
    if result.get("verdict") == "inconclusive":
        typer.echo(f"warning: inconclusive: {result['reason']}", err=True)
        raise typer.Exit(3)


def _model_check(
    model: str, out: Path, preset: str | None, c: str | None, s: str | None, widths: str, steps: int, seeds: int,
    optimizer: str, adam_c: str | None, lr: str | None, device: str, seed: int, threads: int, tolerance: str,
    plots: bool, overwrite: bool, as_json: bool,
) -> None:
    """``--model gpt``: the any-model coordinate check (infwidth.anymodel.coordcheck)."""
    import json

    from infwidth.anymodel.coordcheck import (
        MODELS,
        GPTCoordCheckConfig,
        format_rows,
        gpt_coordcheck,
        plot_model_coordcheck,
    )
    from infwidth.device import resolve_device
    from infwidth.runs import (
        atomic_write_json,
        jsonable,
        prepare_out_dir,
        seed_everything,
        write_run_record,
    )

    if model.strip().lower() not in MODELS:
        raise UserError(f"unknown --model {model!r}; choose {', '.join(MODELS)}")
    if preset is None:
        raise UserError("--model needs --preset (mup, sp, ntp, or up with --s)")
    opt = optimizer.strip().lower()
    if opt not in ("sgd", "adam"):
        raise UserError(f"--optimizer must be sgd or adam, got {optimizer!r}")
    rates = None
    if adam_c is not None:
        from infwidth.cli.classify import parse_list

        if opt != "adam":
            raise UserError("--adam-c needs --optimizer adam")
        rates = tuple(str(x) for x in parse_list(adam_c, "--adam-c"))
    if threads < 0:
        raise UserError(f"--threads must be >= 0 (0 keeps torch's default), got {threads}")
    dev = resolve_device(device)
    config = GPTCoordCheckConfig(
        preset=preset, widths=tuple(parse_widths(widths)), steps=steps, seeds=seeds, seed=seed, optimizer=opt,
        lr=None if lr is None else parse_positive(lr, "--lr"), adam_c=rates, base_tolerance=parse_positive(tolerance, "--tolerance"),
        device=str(dev), c=c, s=s,
    )
    from infwidth.anymodel.apply import model_parametrization
    from infwidth.anymodel.gpt import gpt_roles

    roles = gpt_roles(config.model_config(config.widths[0]))
    model_parametrization(preset, roles, c=c, s=s)  # bad --preset/--c/--s: one line, before --out is touched
    if rates is not None and len(rates) != (3 if roles.has_hidden else 2):
        raise UserError(f"--adam-c has {len(rates)} entries; the GPT needs 3 (input, hidden, output)")
    run_config = {"model": model} | config.as_dict()
    out_dir, _ = prepare_out_dir(out, run_config, overwrite=overwrite, resumable=False)
    seed_everything(seed)
    from tqdm import tqdm

    bar = tqdm(total=len(config.widths) * seeds, desc="coordcheck", unit="run", disable=as_json, leave=False)
    mc = gpt_coordcheck(config, progress=lambda _msg: bar.update(1), threads=threads or None)
    bar.close()
    figures = plot_model_coordcheck(mc, out_dir) if plots else []
    result = mc.as_dict() | {"plots": [str(f) for f in figures]}
    atomic_write_json(out_dir / "coordcheck.json", result)
    keys = ("passed", "verdict", "reason", "as_predicted", "tested",
            "tolerance_rule", "growing_modules", "predicted_growing_modules",
            "quantities", "divergences", "plots")
    summary = {k: result[k] for k in keys}
    write_run_record(out_dir, run_config, results=summary)
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
    else:
        typer.echo(f"{model} in {mc.label}, {opt}, lr {config.rate}, widths {widths}, {steps} steps, {seeds} seeds")
        typer.echo(format_rows(mc))
        for d in mc.check.divergences:
            typer.echo(f"diverged: {d}")
        if result["growing_modules"]:
            which = "as predicted" if result["as_predicted"] else "NOT all as predicted"
            typer.echo(f"growing with width ({which}): {', '.join(result['growing_modules'])}")
        typer.echo(f"{result['verdict'].upper()}: {result['tested']} rows tested, as predicted: "
                   f"{result['as_predicted']}; results in {out_dir}")
        for f in figures:
            typer.echo(f"plot: {f}")
    _exit_for(result)
