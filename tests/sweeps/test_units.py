"""The shipped units of work: deterministic, JSON-ready, and equal to calling the science directly."""

import json
import math

import pytest

from infwidth.errors import UserError
from infwidth.sweeps import read_points, run_sweep
from infwidth.sweeps.units import execute, resolve_unit


def test_coordcheck_points_equal_the_coordcheck_run_point(tmp_path):
    from infwidth.coordcheck import CoordCheckConfig, run_point
    from infwidth.parametrizations import mup

    spec = {"unit": "coordcheck-point", "base": {"widths": [32, 64], "steps": 2},
            "axes": {"width": [32, 64], "seed": [0, 1]}}
    run_sweep(spec, tmp_path, progress=False)
    cfg = CoordCheckConfig(parametrization=mup(3), widths=(32, 64), steps=2, seeds=1)
    for rec in read_points(tmp_path).values():
        direct = run_point(cfg, rec["axes"]["width"], rec["axes"]["seed"])
        assert rec["result"]["sizes"] == json.loads(json.dumps(direct["sizes"]))


def test_mlp_unit_is_deterministic_and_sp_differs_from_mup():
    small = {"width": 32, "lr": 0.01, "steps": 5, "train_chars": 5000, "val_chars": 1000}
    target = resolve_unit("mlp-adam").target
    a = execute(target, {**small, "param": "mup"})
    assert a["status"] == "ok" and math.isfinite(a["result"]["loss"])
    assert execute(target, {**small, "param": "mup"})["result"] == a["result"]
    assert execute(target, {**small, "param": "sp"})["result"]["loss"] != a["result"]["loss"]
    bad = execute(target, {**small, "param": "ntk"})
    assert bad["status"] == "failed" and bad["error"].startswith("UserError: param must be 'mup' or 'sp'")


def test_gpt_unit_trains_a_tiny_gpt_through_the_anymodel_train_config():
    from infwidth.anymodel.gpt import GPTConfig
    from infwidth.anymodel.train import TrainConfig, train
    from infwidth.device import torch_threads
    from infwidth.sweeps.gpt_unit import GPTPoint, train_config

    target = resolve_unit("gpt").target
    train_cfg = {"model": {"vocab_size": 27, "d_model": 16, "n_head": 2, "block_size": 16}, "batch": 4, "steps": 3,
                 "n_chars": 20_000, "eval_batches": 1, "device": "cpu"}
    mup, sp = (execute(target, {"param": p, "train": train_cfg}) for p in ("mup", "sp"))
    assert mup["status"] == sp["status"] == "ok", (mup, sp)
    assert math.isfinite(mup["result"]["loss"]) and mup["result"]["loss"] != sp["result"]["loss"]
    assert execute(target, {"param": "mup", "train": train_cfg})["result"] == mup["result"]
    # the unit is anymodel's train() with the recipe applied: SP is one Adam rate for every tensor
    direct = TrainConfig(model=GPTConfig(vocab_size=27, d_model=16, n_head=2, block_size=16), batch=4, steps=3,
                         n_chars=20_000, eval_batches=1, device="cpu", parametrization="sp", adam_c=("0", "0", "0"))
    with torch_threads(1):  # the unit's thread count, so the sums run in the same order
        assert train(direct).val_loss == sp["result"]["loss"]
    assert train_config(GPTPoint("sp", TrainConfig(model=direct.model))).adam_c == ("0", "0", "0")
    bad = execute(target, {"param": "mup", "train": {**train_cfg, "parametrization": "ntp"}})
    assert bad["status"] == "failed" and "set the recipe with `param`" in bad["error"]


def test_gpt_sweep_takes_dotted_axes_into_the_train_config(tmp_path):
    spec = {"unit": "gpt", "base": {"train": {"model": {"vocab_size": 27, "n_head": 2, "block_size": 8}, "batch": 2,
                                              "steps": 2, "n_chars": 5_000, "eval_batches": 1, "device": "cpu"}},
            "axes": {"param": ["mup"], "train.model.d_model": [8, 16], "train.lr": [0.01]}}
    run_sweep(spec, tmp_path, progress=False)
    records = list(read_points(tmp_path).values())
    assert sorted(r["axes"]["train.model.d_model"] for r in records) == [8, 16]
    assert all(r["status"] == "ok" for r in records)


def test_unit_must_take_a_frozen_dataclass():
    with pytest.raises(UserError, match="one dataclass config"):
        resolve_unit("infwidth.sweeps.units:one_line")


def test_converge_and_contrast_units_are_the_studies_own(tmp_path):
    from infwidth.studies.contrast import ContrastConfig, ContrastPoint, contrast_point
    from infwidth.studies.converge import ConvergenceConfig, ConvergencePoint, run_point

    spec = {"unit": "converge", "base": {"config": {"model": "linear1", "widths": [16, 32], "steps": 2, "seeds": 2}},
            "axes": {"width": [16, 32], "index": [0, 1], "config.lr": [0.5]}}  # a nested field as an axis
    run_sweep(spec, tmp_path / "c", progress=False)
    study = ConvergenceConfig(model="linear1", widths=(16, 32), steps=2, seeds=2, lr=0.5)
    records = read_points(tmp_path / "c").values()
    assert len(records) == 4
    for rec in records:
        direct = run_point(ConvergencePoint(study, rec["axes"]["width"], rec["axes"]["index"]))
        assert rec["result"]["f_sq"] == direct["f_sq"] and rec["result"]["k_sq"] == direct["k_sq"]
    spec = {"unit": "contrast", "base": {"config": {"steps": 2}, "index": 0},
            "axes": {"name": ["mup", "ntp"], "width": [16, 32]}}
    run_sweep(spec, tmp_path / "k", progress=False)
    for rec in read_points(tmp_path / "k").values():
        direct = contrast_point(ContrastPoint(ContrastConfig(steps=2), rec["axes"]["name"], rec["axes"]["width"], 0))
        assert rec["result"] == json.loads(json.dumps(direct))
    with pytest.raises(UserError, match="unknown config field 'lrr' for unit 'contrast', field 'config'"):
        run_sweep({**spec, "axes": {"config.lrr": [1]}}, tmp_path / "bad", progress=False)


def test_a_partly_given_nested_config_keeps_the_units_defaults():
    """`train.model.d_model` alone must not reset the GPT's vocabulary to GPTConfig's class default:
    the nested config starts from the unit's default instance."""
    from infwidth.sweeps.gpt_unit import GPTPoint

    unit = resolve_unit("gpt")
    point = unit.make_config({"train.model.d_model": 48, "train.lr": 0.01})
    default = GPTPoint()
    assert point.train.model.d_model == 48 and point.train.lr == 0.01
    assert point.train.model.vocab_size == default.train.model.vocab_size == 27
    assert point.train.steps == default.train.steps
