"""``infwidth sweep``: run / status / report, and one-line errors for bad input."""

import json
import sys

import pytest

from infwidth.cli import main

CONFIG = """unit = "quadratic"
[base]
noise = 0.1
fail_at_lr = 0.5
[axes]
param = ["mup", "sp"]
width = [64, 256, 1024]
lr = {log2 = [-12, -1]}
seed = [0, 1]
[transfer]
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(CONFIG.replace('[base]\n', '[base]\ndrift = 0.0\n'))
    return path


def test_run_status_report_json(config, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "run", str(config), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "ran 144 point(s)" in text and "mup: pass" in text and "12 failed" in text
    assert main(["sweep", "status", str(out)]) == 0
    assert "144 points, 132 ok, 12 failed, 0 pending" in capsys.readouterr().out
    assert main(["sweep", "report", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["points"] == 144 and rep["failed"] == 12
    assert rep["transfer"]["mup"]["pass"] is True and abs(rep["transfer"]["mup"]["drift_per_doubling"]) < 0.1
    assert {"results.csv", "results.json", "loss_vs_lr.png", "best_lr_vs_width.png"} <= set(rep["files"])
    assert main(["sweep", "run", str(config), "--out", str(out), "--quiet"]) == 0
    assert "ran 0 point(s)" in capsys.readouterr().out  # rerun: every point already finished


def test_results_load_with_pandas(config, tmp_path):
    pd = pytest.importorskip("pandas", reason="pandas (the tables extra) is not installed")
    out = tmp_path / "out"
    main(["sweep", "run", str(config), "--out", str(out), "--quiet"])
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 144 and {"param", "width", "lr", "seed", "loss", "status", "error"} <= set(table.columns)
    assert (table["status"] == "failed").sum() == 12
    assert len(pd.read_json(out / "results.json")) == 144
    if (out / "results.parquet").exists():
        assert pd.read_parquet(out / "results.parquet")["loss"].equals(table["loss"])


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("infwidth: error:") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--executor", "slurm"], "unknown --executor 'slurm'"),
        (["--address", "1.2.3.4:6379"], "--address is for the ray executor"),
        (["--workers", "0", "--executor", "processes"], "--workers must be a positive integer"),
        (["--workers", "2"], "--workers needs --executor processes or ray"),
        (["--gpus-per-point", "1"], "--gpus-per-point is for the ray executor"),
    ],
)
def test_bad_flags(config, tmp_path, capsys, args, fragment):
    assert main(["sweep", "run", str(config), "--out", str(tmp_path / "o"), *args]) == 2
    assert fragment in _error(capsys)


def test_bad_configs_and_dirs(config, tmp_path, capsys):
    assert main(["sweep", "run", "no-such-sweep", "--out", str(tmp_path / "o")]) == 2
    assert "no sweep config file 'no-such-sweep'" in _error(capsys)
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("seed = [0, 1]", "seeds = [0, 1]"))
    assert main(["sweep", "run", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "unknown axis or config field 'seeds'" in _error(capsys)
    out = tmp_path / "out"
    assert main(["sweep", "run", str(config), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    other = tmp_path / "other.toml"
    other.write_text(CONFIG)
    assert main(["sweep", "run", str(other), "--out", str(out), "--quiet"]) == 2
    err = _error(capsys)
    assert "holds another sweep" in err and "--out, or pass --overwrite to replace it" in err and "`" not in err
    assert main(["sweep", "run", str(other), "--out", str(out), "--quiet", "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "holds no sweep" in _error(capsys)


def test_ray_missing_is_one_line(config, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["sweep", "run", str(config), "--out", str(tmp_path / "o"), "--executor", "ray"]) == 2
    assert "pip install 'infwidth[ray]'" in _error(capsys)


def test_unreachable_ray_address_is_one_line(config, tmp_path, capsys):
    pytest.importorskip("ray", reason="ray (the ray extra) is not installed")
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    args = ["sweep", "run", str(config), "--out", str(tmp_path / "o"), "--executor", "ray", "--address", "127.0.0.1:1"]
    assert main(args) == 2
    err = _error(capsys)
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in err and "drop --address" in err
    assert main([*args[:-1], "nonsense"]) == 2
    assert "cannot read Ray address 'nonsense'" in _error(capsys)
