"""The repository stands on its own: no reference to a document that is not in it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORD = re.compile(r"\b" + "SP" + "EC" + r"\b")  # spelled in two pieces so this file does not match itself


def test_no_reference_to_an_outside_spec():
    files = [ROOT / "README.md"] + [p for d in ("src", "tests", "docs") for p in (ROOT / d).rglob("*")
                                    if p.suffix in (".py", ".md", ".txt", ".toml")]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files if p.is_file()
            for i, line in enumerate(p.read_text(errors="ignore").splitlines(), 1) if WORD.search(line)]
    assert not hits, hits
