"""Command-line entry point: ``infwidth <command> ...``.

Each subcommand lives in its own module here and registers itself on :data:`app`. Heavy imports
(torch, numpy) happen inside the commands so that ``infwidth --help`` stays fast. User mistakes
become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

# OpenMP threads that spin while they wait made torch's kernels 5-11x slower than one thread on a busy
# machine; with sleeping waiters ("PASSIVE") two threads beat one in 15 of 18 cases there, by up to
# 4.2x (docs/kernels.md, "Threads"). It only takes effect before torch loads, and an explicit setting is kept.
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from infwidth.cli.app import app
from infwidth.errors import UserError

COMMAND_MODULES = ("classify", "coordcheck", "kernel", "converge", "word2vec", "maml", "sweep", "tour")

for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"infwidth.cli.{_name}") is not None:
        importlib.import_module(f"infwidth.cli.{_name}")


def _close_progress_bars() -> None:
    """Close progress bars an error left open, so the error starts its own line."""
    if "tqdm" not in sys.modules:
        return
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def _fail(message: str, command: tuple[str, ...] | None = None) -> int:
    _close_progress_bars()
    if command is not None:
        from infwidth.cli._flags import to_flags

        message = to_flags(message, command)
    print(f"infwidth: error: {message}", file=sys.stderr)
    return 2


# what to make smaller when a command runs out of memory (by command, then subcommand)
OOM_ADVICE = {
    "kernel": "use fewer inputs (rows of --x1/--x2) or split them into blocks",
    "kernel-converge": "use smaller --widths",
    "converge": "use smaller --widths (the largest dominates) or a smaller --depth",
    "coordcheck": "use smaller --widths, --batch or --d-in, or a smaller --depth",
    "word2vec train": "use a smaller --vocab-cap or --max-chars, or narrower --models widths",
    "word2vec eval": "use --restrict N to search fewer words",
    "word2vec pca": "use a run with a smaller vocabulary",
    "maml train": "use a smaller --width or --meta-batch, or --simulate for widths above 789",
    "maml eval": "use a smaller --test-batches",
    "tour": "run fewer sections with --only",
}

# commands whose runs continue with --resume after an interrupt
RESUMABLE = ("converge", "word2vec train", "maml train")


def _command(args: list[str]) -> str:
    """``"maml train"`` / ``"kernel"``: the (sub)command named in ``args``, or ``""``."""
    words = [a for a in args if not a.startswith("-")][:2]
    if not words:
        return ""
    groups = {g.name for g in app.registered_groups}
    return " ".join(words) if words[0] in groups and len(words) == 2 else words[0]


def _interrupted(args: list[str]) -> int:
    command = _command(args)
    if command in RESUMABLE:
        again = [a for a in args if a not in ("--resume", "--overwrite")]
        hint = f"continue it with: infwidth {' '.join(again)} --resume"
    else:
        hint = "nothing finished was lost; run the command again to redo it"
    _close_progress_bars()
    print(f"infwidth: interrupted; {hint}", file=sys.stderr)
    return 130


def _out_of_memory(args: list[str]) -> int:
    advice = OOM_ADVICE.get(_command(args), "use smaller sizes")
    return _fail(f"out of memory; {advice}")


def _finite_floats(command) -> None:  # noqa: ANN001 - a click-style command or group
    """Make every float option of ``command`` (and its subcommands) reject NaN and inf."""
    for param in command.params:
        if not getattr(param, "_infwidth_finite", False):
            param.callback = _finite_callback(param.callback)
            param._infwidth_finite = True
    for sub in getattr(command, "commands", {}).values():
        _finite_floats(sub)


def _finite_callback(inner):  # noqa: ANN001, ANN202
    import math

    def callback(ctx, param, value):  # noqa: ANN001, ANN202
        if inner is not None:
            value = inner(ctx, param, value)
        if isinstance(value, float) and not math.isfinite(value):
            flag = max(param.opts, key=len) if param.opts else param.name
            raise UserError(f"{flag} must be a finite number, got {value}")
        return value

    return callback


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 2 user error, 130 interrupted)."""
    from typer.exceptions import Abort, Exit, TyperException
    from typer.main import get_command

    from infwidth.runs import release_run_locks

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        command = get_command(app)
        _finite_floats(command)
        result = command.main(args=args, prog_name="infwidth", standalone_mode=False)
    except UserError as exc:  # the library names its parameters; _fail writes them as this command's flags
        words = tuple(a for a in args if not a.startswith("-"))[:2]
        return _fail(str(exc).splitlines()[0] if str(exc) else "invalid input", words or ("",))
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            return 2
        message = " ".join(exc.format_message().split())
        command_name = next((a for a in args if not a.startswith("-")), None)
        known = command_name in {c.name for c in app.registered_commands} | {
            g.name for g in app.registered_groups
        }
        hint = f"see 'infwidth {command_name} --help'" if known else "see 'infwidth --help'"
        return _fail(f"{message.rstrip('.')}; {hint}")
    except Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer turns Ctrl-C into Exit(130)
            return _interrupted(args)
        return exc.exit_code
    except MemoryError:
        return _out_of_memory(args)
    except RuntimeError as exc:
        if "allocate" not in str(exc) and "out of memory" not in str(exc):
            raise
        return _out_of_memory(args)
    except (Abort, KeyboardInterrupt):
        return _interrupted(args)
    finally:
        release_run_locks()
    if result == 130:  # typer turns Ctrl-C into exit code 130 (no command of ours returns it)
        return _interrupted(args)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
