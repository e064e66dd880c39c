"""``infwidth kernel``: NNGP and NTK of an MLP between two sets of inputs, saved as an .npz."""

from __future__ import annotations

from pathlib import Path

import typer

from infwidth.cli.app import app
from infwidth.errors import UserError

MAX_DEPTH = 10_000  # hidden layers; deeper kernels are refused up front


def _number(text: str, flag: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{flag} must be a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{flag} must be a finite number >= 0, got {text!r}")
    return value


def _load(path: Path, flag: str):  # noqa: ANN202 - numpy array
    import zipfile

    import numpy as np

    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file; give a .npy array of shape (N, d)")
    if path.stat().st_size == 0:
        raise UserError(f"{flag} {path} is an empty file; save the inputs with numpy.save(path, X)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        why = "text, pickled objects or another format" if "pickle" in str(exc) else str(exc).splitlines()[0]
        raise UserError(f"{flag} {path} is not a .npy array of numbers ({why}); "
                        "save the (N, d) inputs with numpy.save(path, X)") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        names = ", ".join(arr.files) or "nothing"
        arr.close()
        raise UserError(f"{flag} {path} is an .npz archive (holding {names}), not one array; "
                        "save the (N, d) inputs alone with numpy.save(path, X)")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise UserError(f"{flag} {path} holds {arr.dtype} numbers; kernels need real inputs (save X.real, or float64)")
    if arr.size and not np.isfinite(arr).all():
        raise UserError(f"{flag} {path} contains NaN or inf; remove or impute those entries")
    return arr


@app.command("kernel")
def kernel(
    x1: Path = typer.Option(..., "--x1", help="Inputs, a .npy array (N1, d)."),
    x2: Path = typer.Option(None, "--x2", help="Second inputs, a .npy array (N2, d); default: x1."),
    depth: str = typer.Option(..., "--depth", help="Number of hidden layers L (>= 0)."),
    nonlinearity: str = typer.Option(
        ..., "--nonlinearity", help="relu, erf, gelu, tanh, sin, identity, or leaky_relu:ALPHA."
    ),
    w_std: str = typer.Option(..., "--w-std", help="Weight std (weights N(0, w_std^2 / fan_in))."),
    b_std: str = typer.Option(..., "--b-std", help="Bias std; 0 means no bias."),
    out_w_std: str = typer.Option(None, "--out-w-std", help="Readout weight std (default: --w-std)."),
    out_b_std: str = typer.Option(None, "--out-b-std", help="Readout bias std (default: --b-std)."),
    out: Path = typer.Option(..., "--out", help="Output .npz with float64 arrays 'nngp' and 'ntk' (N1, N2)."),
    quadrature_points: int = typer.Option(
        100, "--quadrature-points", help="Quadrature nodes per axis for nonlinearities without a closed form."
    ),
    threads: int = typer.Option(
        None, "--threads", help="torch CPU threads (default: every core when the machine is idle, 1 when busy; docs/kernels.md)."
    ),
) -> None:
    """NNGP and NTK of an L-hidden-layer MLP (neural-tangents convention) between X1 and X2."""

    import numpy as np

    from infwidth.cli._options import check_threads
    from infwidth.device import kernel_threads, torch_threads
    from infwidth.errors import check_int
    from infwidth.limits.kernels import mlp_kernels
    from infwidth.runs import atomic_file, check_out_file

    try:
        depth_int = int(depth)
    except ValueError:
        raise UserError(f"--depth must be an integer >= 0 (hidden layers), got {depth!r}") from None
    if depth_int < 0:
        raise UserError(f"--depth must be an integer >= 0 (hidden layers), got {depth!r}")
    if depth_int > MAX_DEPTH:
        raise UserError(f"--depth {depth_int} is more than {MAX_DEPTH:,} hidden layers (each costs a pass over the "
                        f"N1 x N2 kernel, and deep kernels reach their fixed point long before); use --depth <= {MAX_DEPTH:,}")
    check_int(quadrature_points, "--quadrature-points", minimum=2)
    n_threads = check_threads(threads, kernel_threads())
    w, b = _number(w_std, "--w-std"), _number(b_std, "--b-std")
    ow = None if out_w_std is None else _number(out_w_std, "--out-w-std")
    ob = None if out_b_std is None else _number(out_b_std, "--out-b-std")
    check_out_file(out, "--out", (".npz",))
    a = _load(x1, "--x1")
    c = None if x2 is None else _load(x2, "--x2")
    if a.ndim != 2 or (c is not None and c.ndim != 2):
        bad, arr = ("--x1", a) if a.ndim != 2 else ("--x2", c)
        raise UserError(f"{bad} must be a 2-D array (N, d), got shape {arr.shape}; reshape it before saving")
    if c is not None and c.shape[1] != a.shape[1]:
        raise UserError(f"--x1 has {a.shape[1]} features but --x2 has {c.shape[1]}; both must have the same input dimension")
    n1, n2 = a.shape[0], (a.shape[0] if c is None else c.shape[0])
    from infwidth.device import require_memory

    require_memory(3 * 8 * n1 * n2, f"the {n1} x {n2} kernels", "use fewer inputs (rows of --x1/--x2)")
    big = n1 * n2 > 4_000_000 or depth_int > 1000
    with torch_threads(n_threads):
        k = mlp_kernels(
            a, c, depth=depth_int, nonlinearity=nonlinearity, w_std=w, b_std=b, out_w_std=ow, out_b_std=ob,
            progress=big, quadrature_points=quadrature_points,
        ).numpy()
    with atomic_file(out) as fh:
        np.savez(fh, nngp=k["nngp"], ntk=k["ntk"])
    n1, n2 = k["nngp"].shape
    typer.echo(f"wrote {out}: nngp and ntk, float64 ({n1}, {n2})")


@app.command("kernel-converge")
def kernel_converge(
    out: Path = typer.Option(Path("kernel-convergence"), "--out", help="Directory for results.json, run.json and gap_vs_width.png."),
    widths: str = typer.Option("64,256,1024,4096", "--widths", help="Comma list (64,256) or doubling range (2^6..2^12)."),
    seeds: int = typer.Option(6, "--seeds", help="Finite networks per width."),
    steps: int = typer.Option(20, "--steps", help="SGD steps (batch 4 of 16 training points)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different run in OUT."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default 1: small tensors; 0: torch's default)."),
) -> None:
    """Finite NTP and SP(c=1) networks against their exact kernel limits: the gap closes like n^-1/2."""
    from infwidth.cli._options import check_network_memory, check_threads, parse_widths
    from infwidth.device import SMALL_WORK_THREADS, torch_threads
    from infwidth.parametrizations.abc import ntp, sp
    from infwidth.runs import atomic_write_json, prepare_out_dir, write_run_record
    from infwidth.studies.kernels import finite_vs_limit, plot_convergence, synthetic_regression

    config = {"out": str(out), "widths": widths, "seeds": seeds, "steps": steps}
    width_list = parse_widths(widths)
    n_threads = check_threads(threads, SMALL_WORK_THREADS)
    check_network_memory(width_list, 2, d_in=4, d_out=1, batch=16, itemsize=8, copies=4,
                         advice="use smaller --widths")
    out_dir, _ = prepare_out_dir(out, config, overwrite=overwrite, resumable=False)
    data = synthetic_regression(n_train=16, n_test=32, d=4)
    runs = {"ntp (NTK), lr 0.2": (ntp(2), 0.2), "sp c=1 (NTK of layers 2..3), lr 2": (sp(2, c=1), 2.0)}
    results = {}
    with torch_threads(n_threads):
        for label, (p, lr) in runs.items():
            results[label] = finite_vs_limit(p, width_list, steps=steps, lr=lr, seeds=seeds, data=data, progress=True)
            print(f"{label}: gaps {[round(g, 5) for g in results[label].gaps]}, slope {results[label].slope:.3f}")
    plot_convergence(results, out_dir / "gap_vs_width.png")
    summary = {k: v.as_dict() for k, v in results.items()}
    atomic_write_json(out_dir / "results.json", summary)
    write_run_record(out_dir, config, results=summary)
