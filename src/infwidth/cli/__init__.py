"""Command-line entry point: ``infwidth <command> ...``.

Each subcommand lives in its own module here and registers itself on :data:`app`. Heavy imports
(torch, numpy) happen inside the commands so that ``infwidth --help`` stays fast. User mistakes
become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from infwidth.cli.app import app
from infwidth.errors import UserError

COMMAND_MODULES = ("classify", "coordcheck", "kernel", "converge", "word2vec", "maml", "sweep", "tour")

for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"infwidth.cli.{_name}") is not None:
        importlib.import_module(f"infwidth.cli.{_name}")


def _fail(message: str, command: tuple[str, ...] | None = None) -> int:
    if command is not None:
        from infwidth.cli._flags import to_flags

        message = to_flags(message, command)
    print(f"infwidth: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 2 user error)."""
    from typer.exceptions import Abort, Exit, TyperException

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        result = app(args=args, prog_name="infwidth", standalone_mode=False)
    except UserError as exc:  # the library names its parameters; _fail writes them as this command's flags
        command = tuple(a for a in args if not a.startswith("-"))[:2]
        return _fail(str(exc).splitlines()[0] if str(exc) else "invalid input", command or ("",))
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            return 2
        message = " ".join(exc.format_message().split())
        command = next((a for a in args if not a.startswith("-")), None)
        known = command in {c.name for c in app.registered_commands} | {
            g.name for g in app.registered_groups
        }
        hint = f"see 'infwidth {command} --help'" if known else "see 'infwidth --help'"
        return _fail(f"{message.rstrip('.')}; {hint}")
    except Exit as exc:
        return exc.exit_code
    except MemoryError:
        return _fail("out of memory; use smaller widths, fewer inputs or a smaller vocabulary")
    except RuntimeError as exc:
        if "allocate" not in str(exc) and "out of memory" not in str(exc):
            raise
        return _fail("out of memory; use smaller widths, fewer inputs or a smaller vocabulary")
    except (Abort, KeyboardInterrupt):
        print("infwidth: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
