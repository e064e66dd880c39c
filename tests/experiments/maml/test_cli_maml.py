"""``infwidth maml train|eval`` through ``infwidth.cli.main``: a tiny real run, and one-line errors."""

from __future__ import annotations

import json

import pytest

from infwidth.cli import main
from infwidth.errors import UserError
from infwidth.experiments.maml.data import CSV_FILE, omniglot_dir


def _has_data() -> bool:
    try:
        return (omniglot_dir() / CSV_FILE).is_file()
    except UserError:
        return False


needs_data = pytest.mark.skipif(not _has_data(), reason="Omniglot data directory not found")


def one_line_error(capsys, argv, match):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("infwidth: error:") and "\n" not in err and match in err, err


def test_bad_arguments(capsys, tmp_path):
    one_line_error(capsys, ["maml", "train", "--out", str(tmp_path / "a"), "--width", "0"], "width must be >= 1")
    one_line_error(capsys, ["maml", "train", "--out", str(tmp_path / "a"), "--model", "gp-relu", "--width", "8"],
                   "drop --width")
    one_line_error(capsys, ["maml", "train", "--out", str(tmp_path / "a"), "--profile", "huge"], "unknown profile")
    one_line_error(capsys, ["maml", "eval", str(tmp_path / "nothing")], "not a finished maml run")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    (bad / "test_accuracies.npy").write_bytes(b"")
    one_line_error(capsys, ["maml", "eval", str(bad)], "not the run.json of an 'infwidth maml train' run")
    one_line_error(capsys, ["maml", "eval", str(bad), "--test-steps", "2"], "not the run.json")
    (bad / "run.json").write_text(json.dumps({"config": {"widths": [8]}}))  # another experiment's run
    one_line_error(capsys, ["maml", "eval", str(bad)], "not the run.json")
    one_line_error(capsys, ["maml", "eval", str(bad), "--test-steps", "-1"],
                   "--test-steps must be a non-negative integer, got -1")
    one_line_error(capsys, ["maml", "eval", str(bad), "--test-batches", "0"],
                   "--test-batches must be a positive integer, got 0")


@pytest.mark.slow
@needs_data
def test_tiny_real_run_and_eval(capsys, tmp_path):
    out = tmp_path / "w8"
    argv = ["maml", "train", "--out", str(out), "--width", "8", "--epochs", "1", "--batches", "2",
            "--val-batches", "1", "--test-batches", "2", "--meta-batch", "4"]
    assert main(argv) == 0
    assert "width 8: meta-test accuracy" in capsys.readouterr().out
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["results"]["test_tasks"] == 8
    assert record["config"]["meta_lr"] == 0.1 and record["config"]["sigma_v"] == 0.25  # the paper's width-8 preset
    assert main(argv + ["--resume"]) == 0  # a finished run resumes to the same result
    assert main(["maml", "eval", str(out), "--plot", str(tmp_path / "acc.png")]) == 0
    assert "| width 8 | 1 |" in capsys.readouterr().out and (tmp_path / "acc.png").stat().st_size > 0
    one_line_error(capsys, argv, "already holds a run")
    one_line_error(capsys, ["maml", "train", "--out", str(tmp_path / "x"), "--model", "gp-linear", "--ways", "5",
                            "--shots", "19", "--queries", "2"], "examples per class")


@needs_data
def test_impossible_task_shape_writes_nothing(capsys, tmp_path):
    out = tmp_path / "x"
    one_line_error(capsys, ["maml", "train", "--out", str(out), "--model", "gp-linear", "--ways", "5",
                            "--shots", "19", "--queries", "2"], "examples per class")
    assert not out.exists()


def test_bad_device_writes_nothing(tmp_path, synthetic_classes):
    from infwidth.experiments.maml.config import make_config
    from infwidth.experiments.maml.experiment import train

    classes = synthetic_classes()
    out = tmp_path / "x"
    with pytest.raises((UserError, RuntimeError)):  # torch's RuntimeError until resolve_device names the fix
        train(make_config("gp-linear"), out, splits={"test": classes}, device="nonsense", show_progress=False)
    assert not out.exists()
