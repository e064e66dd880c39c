"""The CLI writes the library's parameter names as its flags; the library's messages name no flag."""

import re
from pathlib import Path

import pytest

import infwidth
from infwidth.cli import main
from infwidth.cli._flags import to_flags


@pytest.mark.parametrize(
    "message, command, expected",
    [
        ("pass `data` pointing at it", ("maml", "train"), "pass --data pointing at it"),
        ("pass e.g. `vocab_cap=120` or `min_count=3`", ("word2vec", "train"), "pass e.g. --vocab-cap 120 or --min-count 3"),
        ("pass `resume=True` to continue it", ("converge",), "pass --resume to continue it"),
        ("add e.g. `s=1/4`", ("classify",), "add e.g. --s 1/4"),
        ("`steps` must be a non-negative integer", ("maml", "eval"), "--test-steps must be a non-negative integer"),
        ("`steps` must be a non-negative integer", ("converge",), "--steps must be a non-negative integer"),
        ("pass `width='limit'`", ("maml", "train"), "pass --width limit"),
        ("no parameter here", ("converge",), "no parameter here"),
    ],
)
def test_to_flags(message, command, expected):
    assert to_flags(message, command) == expected


def test_library_messages_name_no_flag():
    """Outside cli/ (and the tour's rerun hints), no string handed to an error names a --flag."""
    src = Path(infwidth.__file__).parent
    offenders = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).as_posix()
        if rel.startswith(("cli/", "tour/")):
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(UserError|require|check_int)\(.*[\"'][^\"']*--[a-z]", line) or re.search(
                    r"^\s*f?[\"'][^\"']*\s--[a-z][a-z-]+", line):
                offenders.append(f"{rel}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_cli_prints_flags_for_library_errors(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["converge", "--model", "linear1", "--widths", "16,32", "--seeds", "1", "--steps", "1", "--out", str(out)]
    assert main(args + ["--json"]) == 0
    capsys.readouterr()
    assert main([*args[:-2], "--steps", "2", "--out", str(out), "--json"]) == 2  # a different run in OUT
    err = capsys.readouterr().err
    assert "--overwrite" in err and "`" not in err and len(err.splitlines()) == 1
