"""``infwidth coordcheck --model gpt`` and ``infwidth classify --model gpt``: JSON shape, verdicts, errors."""

import json

from infwidth.cli import main

SMALL = ["--widths", "32,64,128,256", "--steps", "1", "--seeds", "2", "--no-plots"]


def test_classify_gpt_json(capsys):
    assert main(["classify", "--model", "gpt", "--preset", "mup", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["regime"] == "feature-learning" and d["stable"] and d["attention_exponent"] == "1"
    assert main(["classify", "--model", "gpt", "--preset", "sp", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["regime"] == "unstable" and "lm_head.weight" in d["offending_tensors"]
    assert main(["classify", "--model", "gpt", "--preset", "ntp"]) == 0
    text = capsys.readouterr().out
    assert "regime: kernel" in text and "lm_head.weight" in text


def test_coordcheck_gpt_json(tmp_path, capsys):
    code = main(["coordcheck", "--model", "gpt", "--preset", "mup", *SMALL, "--out", str(tmp_path / "m"), "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0 and d["passed"] is True
    row = next(r for r in d["quantities"] if r["module"] == "lm_head" and r["step"] == 1 and r["change"])
    assert {"fitted_slope", "predicted_slope", "pass"} <= set(row) and row["pass"]
    assert (tmp_path / "m" / "coordcheck.json").exists() and (tmp_path / "m" / "run.json").exists()
    code = main(["coordcheck", "--model", "gpt", "--preset", "sp", *SMALL, "--out", str(tmp_path / "s"), "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 1 and d["passed"] is False and d["as_predicted"] is True and "lm_head" in d["growing_modules"]


def test_model_errors_are_one_line(tmp_path, capsys):
    out = tmp_path / "x"
    for args, msg in (
        (["coordcheck", "--model", "vit", "--preset", "mup"], "unknown --model"),
        (["coordcheck", "--model", "gpt"], "needs --preset"),
        (["coordcheck", "--model", "gpt", "--preset", "mup", "--depth", "2"], "drop --depth"),
        (["coordcheck", "--model", "gpt", "--preset", "mfp"], "unknown preset"),
        (["coordcheck", "--model", "gpt", "--preset", "mup", "--widths", "30,60"], "multiple of the number of heads"),
        (["classify", "--model", "gpt", "--preset", "up"], "needs s"),
    ):
        assert main([*args, "--out", str(out)] if args[0] == "coordcheck" else args) == 2, args
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, (args, err)
    assert not out.exists()


def test_coordcheck_gpt_one_width_is_refused_before_any_run(tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["coordcheck", "--model", "gpt", "--preset", "mup", "--widths", "64", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infwidth: error: need at least 2 widths") and "\n" not in err
    assert "--widths" in err and not out.exists()
