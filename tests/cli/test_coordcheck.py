"""``infwidth coordcheck``: runs end to end, writes JSON + plots, turns bad input into exit code 2."""

import json

import pytest

from infwidth.cli import main

SMALL = ["--widths", "64,128,256", "--steps", "1", "--seeds", "2", "--d-in", "8", "--d-out", "3"]


def test_mup_json_and_plots(tmp_path, capsys):
    out = tmp_path / "mup"
    code = main(["coordcheck", "--preset", "mup", "--depth", "2", *SMALL, "--out", str(out), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["passed"] is True
    rows = {(r["step"], r["quantity"]): r for r in result["quantities"]}
    assert rows[(1, "dx2")]["predicted_slope"] == "0" and rows[(1, "dx2")]["pass"] is True
    assert rows[(0, "f")]["predicted_slope"] == "-1/2"
    assert abs(rows[(1, "dx2")]["fitted_slope"]) < 0.2
    assert len(result["plots"]) == 4 and all((out / p.split("/")[-1]).exists() for p in result["plots"])
    assert (out / "coordcheck.json").exists() and (out / "run.json").exists()


def test_abc_exponents_and_adam(tmp_path, capsys):
    # NTP spelled out with --a/--b/--c, trained with Adam: features move like n^{-1/2}
    args = ["coordcheck", "--a", "0,1/2,1/2", "--b", "0,0,0", "--c", "0", "--optimizer", "adam", "--lr", "0.01"]
    code = main([*args, *SMALL, "--no-plots", "--out", str(tmp_path / "ntp"), "--json"])
    result = json.loads(capsys.readouterr().out)
    rows = {(r["step"], r["quantity"]): r for r in result["quantities"]}
    assert rows[(1, "dx1")]["predicted_slope"] == "-1/2"
    assert abs(rows[(1, "dx1")]["fitted_slope"] + 0.5) < 0.2
    assert code == 0


def test_failing_check_exits_1_and_says_fail(tmp_path, capsys):
    # one seed (no noise allowance) and a tolerance no finite-width fit meets
    args = ["--preset", "mup", "--depth", "1", "--widths", "32,64", "--steps", "1", "--seeds", "1", "--d-in", "4"]
    code = main(["coordcheck", *args, "--tolerance", "1e-9", "--no-plots", "--out", str(tmp_path / "m")])
    text = capsys.readouterr().out
    assert code == 1 and "FAIL" in text and " fail" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--preset", "mup", "--depth", "2", "--widths", "128,64"], "widths must increase"),
        (["--preset", "mup", "--depth", "2", "--widths", "128"], "at least 2 widths"),
        (["--preset", "mup", "--depth", "2", "--widths", "64,x"], "--widths"),
        (["--preset", "mup", "--depth", "2", "--lr", "0"], "--lr"),
        (["--preset", "mup", "--depth", "2", "--lr", "-0.1"], "--lr"),
        (["--preset", "mup", "--depth", "2", "--steps", "0"], "--steps"),
        (["--preset", "mup", "--depth", "2", "--steps", "-3"], "--steps"),
        (["--preset", "mup", "--depth", "2", "--seeds", "0"], "--seeds"),
        (["--preset", "nope", "--depth", "2"], "unknown preset"),
        (["--preset", "mup"], "--depth"),
        (["--a", "0,1/2", "--b", "0,0"], "--c"),
        (["--preset", "mup", "--depth", "2", "--optimizer", "lbfgs"], "sgd or adam"),
        (["--preset", "sp", "--depth", "2", "--adam-c", "1,1,1"], "--optimizer adam"),
        (["--preset", "sp", "--depth", "2", "--optimizer", "adam", "--adam-c", "1,1"], "L+1"),
        (["--preset", "mup", "--depth", "2", "--form", "bogus"], "--form"),
        (["--preset", "mup", "--depth", "1", "--optimizer", "adam", "--adam-c", "1,1", "--form", "practical"], "--form abc"),
        (["--preset", "mup", "--depth", "2", "--d-in", "0"], "--d-in"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, needle):
    code = main(["coordcheck", *args, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("infwidth: error:") and "\n" not in err and needle in err
    assert not (tmp_path / "x").exists()


def test_inconclusive_exits_3_with_a_warning_and_the_verdict_in_the_json(tmp_path, capsys, monkeypatch):
    # the data decide nothing here by construction: every tested row's verdict is forced inconclusive
    from infwidth.coordcheck.report import CoordCheck, SlopeRow

    real_rows = CoordCheck.rows

    def rows(self):
        out = real_rows(self)
        for r in out:
            if r.verdict == "pass":
                r.status, r.reason = "inconclusive", "forced"
        return out

    monkeypatch.setattr(CoordCheck, "rows", rows)
    assert SlopeRow(1, "dx1", 0.0, 0.0, None, None, "inconclusive").passed
    code = main(["coordcheck", "--preset", "mup", "--depth", "1", *SMALL, "--no-plots", "--out", str(tmp_path / "i"),
                 "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 3 and result["passed"] is True and result["verdict"] == "inconclusive"
    assert result["inconclusive"] == result["tested"] > 0 and "forced" in result["reason"]
    assert captured.err.strip().splitlines()[-1].startswith("warning: inconclusive:")
