"""docs/tensor_programs.md: the hand-written one-step program runs, and its limit is the quadrature value."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "tensor_programs.md"


def test_the_ten_line_example_runs_and_its_limit_matches_quadrature(capsys):
    block = re.search(r"## 3\..*?```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(block, str(DOC), "exec"), scope)
    out = capsys.readouterr().out
    assert "v8 = W^T dh2" in out and "f1 = " in out
    from infwidth.tensor_programs import solve_limit

    quad = solve_limit(scope["p"], method="quadrature", order=12)
    mc = solve_limit(scope["p"], method="mc", particles=2**14)
    assert quad["f1"] == pytest.approx(0.3461, abs=5e-4)  # the value the page quotes
    assert abs(mc["f1"] - quad["f1"]) < 4.5 * mc.se["f1"]
