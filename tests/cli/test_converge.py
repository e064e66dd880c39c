"""``infwidth converge`` through the CLI entry point."""

import json

from infwidth.cli import main


def test_converge_json_and_files(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["converge", "--model", "linear1", "--widths", "16,64,256", "--seeds", "4", "--steps", "3",
                 "--out", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["widths"] == [16, 64, 256]
    assert len(data["f_error"]) == 3 and len(data["kernel_error"]) == 3
    assert data["f_error"][2] < data["f_error"][0]
    assert isinstance(data["f_slope"], float) and data["f_slope"] < 0
    assert (out / "convergence.png").stat().st_size > 0
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["results"]["f_slope"] == data["f_slope"]


def test_converge_range_syntax_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["converge", "--model", "tanh1", "--widths", "2^4..2^6", "--seeds", "2", "--steps", "2", "--out", str(out), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["widths"] == [16, 32, 64]
    assert main(args + ["--resume"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["f_error"] == first["f_error"]


def _one_line_error(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infwidth: error:") and "\n" not in err
    return err


def test_bad_input_is_one_line(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert "unknown model" in _one_line_error(capsys, ["converge", "--model", "relu9", "--out", out])
    assert "width" in _one_line_error(capsys, ["converge", "--model", "linear1", "--widths", "0,16", "--out", out])
    assert "width" in _one_line_error(capsys, ["converge", "--model", "linear1", "--widths", "a,b", "--out", out])
    assert "--lr" in _one_line_error(capsys, ["converge", "--model", "linear1", "--lr", "fast", "--out", out])
    assert "depth" in _one_line_error(capsys, ["converge", "--model", "linear-deep", "--depth", "1", "--out", out])


def test_refuses_a_foreign_out_dir(tmp_path, capsys):
    out = str(tmp_path / "run")
    base = ["converge", "--model", "linear1", "--widths", "16,32", "--seeds", "2", "--steps", "2", "--out", out, "--json"]
    assert main(base) == 0
    capsys.readouterr()
    assert "already holds a run" in _one_line_error(capsys, base[:-3] + ["--steps", "3", "--out", out])


def test_converge_mlp_any_depth_and_nonlinearity(tmp_path, capsys):
    out = tmp_path / "mlp"
    code = main(["converge", "--model", "mlp", "--depth", "2", "--nonlinearity", "gelu", "--widths", "32,128,512",
                 "--seeds", "2", "--steps", "2", "--batch", "4", "--particles", "4096", "--out", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["nonlinearity"] == "gelu" and data["config"]["depth"] == 2
    assert data["limit"]["method"].startswith("Tensor-Program engine") and data["limit"]["particles"] == 4096
    assert data["f_error"][-1] < data["f_error"][0]
    assert (out / "convergence.png").stat().st_size > 0
    bad = str(tmp_path / "bad")
    assert "unknown nonlinearity" in _one_line_error(capsys, ["converge", "--model", "mlp", "--nonlinearity", "softsign",
                                                              "--out", bad])
    assert "particles" in _one_line_error(capsys, ["converge", "--model", "mlp", "--particles", "3", "--out", bad])
    assert "batch" in _one_line_error(capsys, ["converge", "--model", "mlp", "--batch", "0", "--out", bad])
    assert not (tmp_path / "bad").exists()
