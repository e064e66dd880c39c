"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["c"].regime == "feature-learning"
    assert namespace["ntk"].kernel == "ntk"


def test_readme_and_docs_width_examples_parse():
    """Every ``--widths`` value written in the README and docs is accepted as written."""
    from infwidth.cli._options import parse_widths

    texts = [README.read_text()] + [p.read_text() for p in (README.parent / "docs").glob("*.md")]
    examples = {m for t in texts for m in re.findall(r"--widths ([0-9^.,]+[0-9])", t)}
    assert "64,128,...,2048" in examples
    for text in examples:
        widths = parse_widths(text)
        assert len(widths) >= 2 and widths == sorted(widths), text
