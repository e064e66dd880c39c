"""``infwidth classify``: the exact classification of an abc-parametrization, as a table or JSON.

Forms::

    infwidth classify --preset {sp,ntp,mfp,mup} --depth L [--c C] [--json]
    infwidth classify --preset up --s S --depth L [--json]
    infwidth classify --a A1,...,A(L+1) --b B1,...,B(L+1) --c C [--json]
    infwidth classify --table --depth L [--json]          # every named parametrization

Numbers are parsed exactly (``1/2``, ``0.5``, ``-1``); ``--adam-c`` classifies under Adam instead.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import typer

from infwidth.cli.app import app
from infwidth.errors import UserError

_USAGE = (
    "give --preset NAME --depth L (NAME in sp, ntp, mfp, mup, up with --s S), "
    "or --a A1,...,A(L+1) --b B1,...,B(L+1) --c C, or --table --depth L"
)


def parse_depth(text: str) -> int:
    """``--depth`` text as an integer (the library checks that it is >= 1)."""
    value = text.strip()
    if not re.fullmatch(r"[+-]?\d+", value):
        raise UserError(f"--depth must be a whole number >= 1 (hidden layers), got {text!r}; e.g. --depth 2")
    return int(value)


def parse_list(text: str, flag: str) -> list[Any]:
    """A comma-separated list of exact numbers (``"-1/2,0,1/2"``)."""
    from infwidth.parametrizations.abc import to_fraction

    items = [x.strip() for x in text.split(",")]
    if any(not x for x in items):
        raise UserError(f"{flag} has an empty entry in {text!r}; separate the L+1 numbers by single commas")
    return [to_fraction(x, f"{flag} entry {i + 1}") for i, x in enumerate(items)]


def build(
    preset_name: str | None,
    depth: str | None,
    c: str | None,
    s: str | None,
    a: str | None,
    b: str | None,
) -> Any:
    """The Parametrization the flags describe; every inconsistent combination is a UserError."""
    from infwidth.parametrizations.abc import Parametrization, preset, to_fraction

    c_value = None if c is None else to_fraction(c, "--c")
    if preset_name is not None:
        if a is not None or b is not None:
            raise UserError("--preset conflicts with --a/--b; give either a preset or explicit exponents")
        if depth is None:
            raise UserError(f"--preset {preset_name} needs --depth L (number of hidden layers); e.g. --depth 2")
        s_value = None if s is None else to_fraction(s, "--s")
        return preset(preset_name, parse_depth(depth), c=c_value, s=s_value)
    if s is not None:
        raise UserError("--s applies to --preset up only; add --preset up or drop --s")
    if a is None and b is None:
        raise UserError(f"nothing to classify; {_USAGE}")
    if a is None or b is None:
        missing = "--a" if a is None else "--b"
        raise UserError(f"explicit exponents need both --a and --b; add {missing} with L+1 comma-separated numbers")
    if c_value is None:
        raise UserError("explicit exponents need the SGD exponent --c C (learning rate ~ n^-C); e.g. --c 0")
    a_list, b_list = parse_list(a, "--a"), parse_list(b, "--b")
    if depth is not None:
        L = parse_depth(depth)
        if len(a_list) != L + 1:
            raise UserError(
                f"--a and --b have {len(a_list)} entries but --depth {L} needs L+1 = {L + 1}; fix the lists or --depth"
            )
    return Parametrization(a=tuple(a_list), b=tuple(b_list), c=c_value)


def _yn(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def one_step_exponents(p: Any, adam_c: tuple | None) -> dict[str, Any] | None:
    """Predicted one-step exponents (ReLU), or None when p is not stable at initialization."""
    from infwidth.parametrizations.predict import predicted_exponents

    try:
        if adam_c is None:
            return predicted_exponents(p)
        return predicted_exponents(p, "adam", adam_c)
    except UserError:
        return None


def render(cl: Any, console: Any, adam_c: tuple | None = None) -> None:
    """The rich view: one row per layer, then the summary and the explanation."""
    from rich.table import Table

    p = cl.parametrization
    L = p.depth
    sgd = adam_c is None
    step_head = "c+2a_l" if sgd else "a_l+c_l"
    steps = p.step_exponents() if sgd else tuple(x + y for x, y in zip(p.a, adam_c, strict=True))
    title = f"{p.name or 'abc-parametrization'}  depth L={L}" + (f", c={p.c}" if sgd else ", Adam")
    table = Table(title=title, title_justify="left")
    exps = one_step_exponents(p, adam_c)
    heads = ("layer", "kind", "a_l", "b_l", "a_l+b_l", step_head, "r_l", "updated maximally", "after 1 step")
    for head in heads:
        table.add_column(head, justify="left" if head in ("kind", "updated maximally", "after 1 step") else "right")
    for i in range(L + 1):
        kind = "input" if i == 0 else ("readout" if i == L else "hidden")
        r_l = str(cl.r_l[i]) if i < L else "-"
        upd = None if cl.updated_maximally is None else cl.updated_maximally[i]
        change = "-" if exps is None else (f"dx^{i + 1} ~ n^{exps[f'dx{i + 1}']}" if i < L else f"df ~ n^{exps['df']}")
        table.add_row(
            str(i + 1), kind, str(p.a[i]), str(p.b[i]), str(p.a[i] + p.b[i]), str(steps[i]), r_l, _yn(upd), change
        )
    console.print(table)
    kernel = "-"
    if cl.kernel is not None:
        kernel = f"{cl.kernel} (layers {', '.join(map(str, cl.kernel_layers))})"
    summary = [
        ("r", str(cl.r)),
        ("stable", _yn(cl.stable)),
        ("nontrivial", _yn(cl.nontrivial)),
        ("regime", cl.regime),
        ("kernel", kernel),
        ("readout initialized maximally", _yn(cl.readout_initialized_maximally)),
        ("f_0 -> 0", _yn(cl.f0_vanishes)),
    ]
    for key, value in summary:
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)
    for f in cl.failures:
        console.print(f"  [red]fails[/red] {f}", highlight=False)
    if exps is not None:
        console.print(
            "[dim]after 1 step: RMS coordinate size of the change after one update of a finite ReLU net "
            "(infwidth.parametrizations.predicted_exponents)[/dim]",
            highlight=False,
        )
    console.print()
    console.print(cl.explanation, highlight=False, markup=False)


@app.command("classify")
def classify_command(
    preset_name: str | None = typer.Option(None, "--preset", help="Named parametrization: sp, ntp, mfp, mup or up."),
    depth: str | None = typer.Option(None, "--depth", help="Number of hidden layers L >= 1."),
    c: str | None = typer.Option(None, "--c", help="SGD exponent: learning rate eta * n^-C (overrides a preset's)."),
    s: str | None = typer.Option(None, "--s", help="The s of --preset up, 0 <= s <= 1/2 (up 0 = muP, up 1/2 = NTP)."),
    a: str | None = typer.Option(None, "--a", help="Multiplier exponents a_1,...,a_(L+1), comma-separated."),
    b: str | None = typer.Option(None, "--b", help="Init exponents b_1,...,b_(L+1), comma-separated."),
    adam_c: str | None = typer.Option(
        None, "--adam-c", help="Classify under Adam with per-layer rates eta * n^-c_l: c_1,...,c_(L+1)."
    ),
    table: bool = typer.Option(False, "--table", help="Print the table of every named parametrization at --depth."),
    model: str | None = typer.Option(None, "--model", help="Classify a reference model's role structure: gpt."),
    width: int = typer.Option(128, "--width", help="With --model: the width (d_model) shown in the roles table."),
    tied: bool = typer.Option(False, "--tied", help="With --model gpt: tie the embedding and readout matrices."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only (fractions as exact strings)."),
) -> None:
    """Classify an abc-parametrization exactly: stable?, nontrivial?, kernel or feature learning, and why."""
    from rich.console import Console

    from infwidth.parametrizations.classify import classify
    from infwidth.parametrizations.report import named_table, named_table_markdown

    if model is not None:
        _classify_model(model, preset_name, depth, c, s, a, b, adam_c, width, tied, table, as_json)
        return
    if table:
        if any(v is not None for v in (preset_name, c, s, a, b, adam_c)):
            raise UserError("--table prints every named parametrization; use it with --depth L only")
        if depth is None:
            raise UserError("--table needs --depth L (number of hidden layers); e.g. --table --depth 1")
        L = parse_depth(depth)
        if as_json:
            print(json.dumps({"depth": L, "rows": named_table(L)}, indent=2))
        else:
            table = named_table_markdown(L)
            print(f"Named parametrizations at depth L = {L} (computed by infwidth.parametrizations.classify)\n")
            print(table)
        return
    p = build(preset_name, depth, c, s, a, b)
    rates = None
    if adam_c is not None:
        rates = tuple(parse_list(adam_c, "--adam-c"))
    cl = classify(p, adam_c=rates)
    if as_json:
        out = cl.as_dict()
        exps = one_step_exponents(p, rates)
        out["predicted_exponents"] = None if exps is None else {k: str(v) for k, v in exps.items()}
        print(json.dumps(out, indent=2))
        return
    # pipes and files get a fixed, wide layout; terminals their own width
    render(cl, Console() if sys.stdout.isatty() else Console(width=110), rates)


def _classify_model(
    model: str, preset_name: str | None, depth: str | None, c: str | None, s: str | None, a: str | None,
    b: str | None, adam_c: str | None, width: int, tied: bool, table: bool, as_json: bool,
) -> None:
    """``--model gpt``: the classification on the model's roles (infwidth.anymodel.classify)."""
    from infwidth.anymodel.classify import classify_model
    from infwidth.anymodel.coordcheck import MODELS
    from infwidth.anymodel.gpt import GPTConfig, gpt_roles
    from infwidth.anymodel.train import VOCAB

    if model.strip().lower() not in MODELS:
        raise UserError(f"unknown --model {model!r}; choose {', '.join(MODELS)}")
    if table or depth is not None:
        raise UserError("--model classifies the model's own role structure; drop --table/--depth")
    if preset_name is None and (a is None or b is None):
        raise UserError("--model needs --preset (mup, sp, ntp, up with --s) or --a/--b/--c with 3 entries (input, hidden, output)")
    p = preset_name.strip().lower() if preset_name is not None else build(None, None, c, s, a, b)
    cfg = GPTConfig(vocab_size=len(VOCAB), d_model=width, tied=tied)
    roles = gpt_roles(cfg)
    rates = None if adam_c is None else tuple(parse_list(adam_c, "--adam-c"))
    if preset_name is not None:
        from infwidth.parametrizations.abc import to_fraction

        cm = classify_model(roles, p, optimizer="sgd" if rates is None else "adam", adam_c=rates,
                            c=None if c is None else to_fraction(c, "--c"), s=None if s is None else to_fraction(s, "--s"))
    else:
        cm = classify_model(roles, p, optimizer="sgd" if rates is None else "adam", adam_c=rates)
    if as_json:
        print(json.dumps(cm.as_dict() | {"model": model, "model_config": cfg.as_dict()}, indent=2))
        return
    print(f"{model} (d_model {width}{', tied' if tied else ''}) roles:")
    print(roles.table())
    print()
    print(f"regime: {cm.regime}  stable: {_yn(cm.stable)}  attention: q.k * head_dim^-{cm.attention_exponent}")
    for f in cm.failures:
        print(f"  fails: {f}")
    print()
    print(cm.explanation)
