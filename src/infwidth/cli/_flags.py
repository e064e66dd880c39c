"""The one place where library parameter names become command-line flags.

Library errors name the library's own parameters in backquotes: `` `data` ``, `` `vocab_cap=120` ``,
`` `overwrite=True` `` (see :class:`infwidth.errors.UserError`). Before printing, the CLI rewrites
them as flags: `` `name` `` -> ``--name``, `` `name=VALUE` `` -> ``--name VALUE``, `` `name=True` `` ->
``--name``, with underscores as dashes, unless a command spells the flag differently (:data:`RENAMED`).
"""

from __future__ import annotations

import re

# (command words) -> {library parameter: flag}, where a command's flag is not the parameter's name
RENAMED: dict[tuple[str, ...], dict[str, str]] = {
    ("maml", "eval"): {"steps": "--test-steps", "batches": "--test-batches"},
}

_PARAM = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:=([^`]*))?`")


def to_flags(message: str, command: tuple[str, ...] = ()) -> str:
    """``message`` with every backquoted library parameter written as the flag of ``command``."""
    renamed: dict[str, str] = {}
    for words, table in RENAMED.items():
        if tuple(command[: len(words)]) == words:
            renamed.update(table)

    def flag(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        text = renamed.get(name, "--" + name.replace("_", "-"))
        if value is None or value == "True":
            return text
        return f"{text} {value.strip(chr(39))}"

    return _PARAM.sub(flag, message)


__all__ = ["RENAMED", "to_flags"]
