"""``infwidth classify``: the three accepted forms, JSON for scripts, and every bad input."""

import json
from fractions import Fraction as F

import pytest

from infwidth.cli import main

KEYS = {"depth", "r", "r_l", "stable", "nontrivial", "regime", "updated_maximally",
        "readout_initialized_maximally"}


def run(capsys, *args):
    code = main(["classify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args):
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_preset_form_json(capsys):
    d = run_json(capsys, "--preset", "mup", "--depth", "3")
    assert KEYS <= set(d)
    assert d["depth"] == 3 and d["r"] == "0" and d["r_l"] == ["0", "0", "0"]
    assert d["stable"] is True and d["nontrivial"] is True and d["regime"] == "feature-learning"
    assert d["updated_maximally"] == [True] * 4 and d["readout_initialized_maximally"] is True


def test_preset_with_c_override(capsys):
    d = run_json(capsys, "--preset", "sp", "--depth", "1", "--c", "1")
    assert d["r"] == "3/2" and d["regime"] == "kernel" and d["kernel"] == "nngp"
    d = run_json(capsys, "--preset", "sp", "--depth", "2", "--c", "-1/2")
    assert d["regime"] == "unstable" and d["nontrivial"] is None
    assert d["updated_maximally"] is None and d["readout_initialized_maximally"] is None
    d = run_json(capsys, "--preset", "ntp", "--depth", "2")
    assert d["r"] == "1/2" and d["kernel"] == "ntk"
    d = run_json(capsys, "--preset", "mfp", "--depth", "1")
    assert d["regime"] == "feature-learning"


def test_up_form(capsys):
    d = run_json(capsys, "--preset", "up", "--s", "0.25", "--depth", "2")
    assert d["r"] == "1/4" and d["r_l"] == ["1/4", "1/4"] and d["regime"] == "kernel"


def test_explicit_form_matches_the_preset(capsys):
    d = run_json(capsys, "--a", "-1/2,0,0,1/2", "--b", "0.5,1/2,1/2,1/2", "--c", "0")
    e = run_json(capsys, "--preset", "mup", "--depth", "3")
    d.pop("parametrization"), e.pop("parametrization")
    assert d == e
    # shifted by t = -1/2 (canonical form): the same classification
    f = run_json(capsys, "--a", "-1,-1/2,-1/2,0", "--b", "1,1,1,1", "--c", "1")
    f.pop("parametrization")
    assert f == e
    g = run_json(capsys, "--a", "0,0", "--b", "0,1/2", "--c", "1", "--depth", "1")
    assert F(g["r"]) == F(3, 2)


def test_table_output(capsys):
    code, out, err = run(capsys, "--preset", "sp", "--depth", "2")
    assert code == 0 and err == ""
    for word in ("a_l+b_l", "c+2a_l", "r_l", "updated maximally", "readout", "unstable", "Unstable"):
        assert word in out
    code, out, _ = run(capsys, "--preset", "mup", "--depth", "2")
    assert "feature-learning" in out and "muP" in out


def test_named_table_command(capsys):
    code, out, _ = run(capsys, "--table", "--depth", "1")
    assert code == 0 and "| SP, lr ~ 1/n | 0, 0 | 0, 1/2 | 1 | 3/2 |" in out and "| MFP |" in out
    d = run_json(capsys, "--table", "--depth", "3")
    rows = {r["name"]: r for r in d["rows"]}
    assert d["depth"] == 3 and rows["SP"]["r"] == "-1" and "MFP" not in rows


def test_predicted_exponents_in_json_and_table(capsys):
    d = run_json(capsys, "--preset", "sp", "--depth", "1")
    assert d["predicted_exponents"]["df"] == "1" and d["predicted_exponents"]["dx1"] == "-1/2"
    d = run_json(capsys, "--a", "0,0", "--b", "1,0", "--c", "0")  # unstable at init: no prediction
    assert d["predicted_exponents"] is None
    code, out, _ = run(capsys, "--preset", "ntp", "--depth", "2")
    assert code == 0 and "dx^2 ~ n^-1/2" in out and "df ~ n^0" in out


def test_adam_option(capsys):
    d = run_json(capsys, "--a", "0,0,0", "--b", "0,1/2,1", "--c", "0", "--adam-c", "0,1,1")
    assert d["optimizer"] == "adam" and d["regime"] == "feature-learning"


BAD = [
    # wrong number of exponents for the depth
    (["--a", "0,0", "--b", "0,1/2,1/2", "--c", "0"], "--b has 3"),
    (["--a", "0,0,0", "--b", "0,1/2,1/2", "--c", "0", "--depth", "3"], "L+1 = 4"),
    (["--a", "0", "--b", "0", "--c", "0"], "L+1 >= 2"),
    (["--a", "0,,0", "--b", "0,1/2,1/2", "--c", "0"], "empty entry"),
    (["--preset", "sp", "--depth", "2", "--adam-c", "1,1"], "--adam-c has 2"),
    # non-numeric, NaN, infinite
    (["--a", "zero,0", "--b", "0,1/2", "--c", "0"], "--a entry 1"),
    (["--a", "0,0", "--b", "0,half", "--c", "0"], "--b entry 2"),
    (["--preset", "sp", "--depth", "2", "--c", "nan"], "finite"),
    (["--preset", "sp", "--depth", "2", "--c", "inf"], "finite"),
    (["--a", "0,-inf", "--b", "0,1/2", "--c", "0"], "finite"),
    (["--a", "0,0", "--b", "0,1/2", "--c", "1/0"], "--c"),
    (["--preset", "up", "--s", "NaN", "--depth", "2"], "finite"),
    (["--preset", "mup", "--depth", "two"], "--depth"),
    (["--preset", "mup", "--depth", "1.5"], "--depth"),
    # depth < 1
    (["--preset", "mup", "--depth", "0"], "--depth must be >= 1"),
    (["--preset", "sp", "--depth", "-2"], "--depth must be >= 1"),
    (["--table", "--depth", "0"], "--depth must be >= 1"),
    # mfp with L != 1
    (["--preset", "mfp", "--depth", "2"], "depth 1 only"),
    # s outside [0, 1/2]
    (["--preset", "up", "--s", "0.6", "--depth", "2"], "[0, 1/2]"),
    (["--preset", "up", "--s", "-1/4", "--depth", "2"], "[0, 1/2]"),
    (["--preset", "up", "--depth", "2"], "needs s"),
    # conflicting or missing flags
    (["--preset", "mup", "--depth", "2", "--a", "0,0,0"], "conflicts"),
    (["--preset", "mup", "--depth", "2", "--s", "1/4"], "up only"),
    (["--s", "1/4", "--a", "0,0", "--b", "0,1/2", "--c", "0"], "up only"),
    (["--table", "--depth", "2", "--preset", "sp"], "--table"),
    (["--table"], "--table needs --depth"),
    (["--preset", "mup"], "needs --depth"),
    (["--a", "0,0", "--b", "0,1/2"], "--c"),
    (["--a", "0,0", "--c", "0"], "--b"),
    ([], "nothing to classify"),
    (["--preset", "foo", "--depth", "2"], "unknown preset"),
    (["--preset", "mup", "--depth", "2", "--bogus"], "--bogus"),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(a) or "no-args" for a, _ in BAD])
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_input_is_one_line_exit_2(capsys, args, words, as_json):
    code, out, err = run(capsys, *args, *(["--json"] if as_json else []))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("infwidth: error: ") and words in lines[0]
    assert "Traceback" not in err
