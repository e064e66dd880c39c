"""Run records, atomic writes and out-dir guarding."""

import json
import os
from fractions import Fraction

import pytest
import torch

from infwidth.errors import UserError
from infwidth.runs import (
    atomic_torch_save,
    atomic_write_json,
    prepare_out_dir,
    seed_everything,
    write_run_record,
)


def test_atomic_json_converts_fractions_and_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"r": Fraction(1, 2), "t": torch.tensor(3.0)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"r": "1/2", "t": 3.0}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_files_get_ordinary_permissions_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "run.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == 0o644


def test_atomic_torch_save_roundtrip(tmp_path):
    state = {"w": torch.arange(5.0)}
    atomic_torch_save(state, tmp_path / "ckpt.pt")
    assert torch.equal(torch.load(tmp_path / "ckpt.pt")["w"], state["w"])


def test_prepare_out_dir_refuses_foreign_run_and_resumes_same(tmp_path):
    out, resuming = prepare_out_dir(tmp_path / "run", {"lr": 0.1})
    assert not resuming and (out / "run.json").exists()
    (out / "checkpoint.pt").write_bytes(b"work")  # the run has done some work
    with pytest.raises(UserError, match="`resume=True`"):  # the CLI prints it as --resume
        prepare_out_dir(out, {"lr": 0.1})
    with pytest.raises(UserError, match="different config"):
        prepare_out_dir(out, {"lr": 0.2}, resume=True)
    assert prepare_out_dir(out, {"lr": 0.1}, resume=True) == (out, True)
    assert prepare_out_dir(out, {"lr": 0.2}, overwrite=True) == (out, False)
    with pytest.raises(UserError, match="nothing to resume"):
        prepare_out_dir(tmp_path / "empty", {"lr": 0.1}, resume=True)


def test_run_record_has_versions_and_results(tmp_path):
    path = write_run_record(tmp_path, {"seed": 1}, results={"acc": 0.5})
    record = json.loads(path.read_text())
    assert record["results"] == {"acc": 0.5}
    assert record["versions"]["torch"] == torch.__version__
    assert record["status"] == "finished"


def test_seed_everything_repeats_torch_draws():
    seed_everything(3)
    a = torch.randn(4)
    seed_everything(3)
    assert torch.equal(a, torch.randn(4))
