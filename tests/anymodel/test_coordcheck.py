"""The GPT coordinate check: passes in muP; in SP fails exactly where the classification predicts growth."""

import pytest

from infwidth.anymodel import GPTConfig, build_gpt, roles_of
from infwidth.anymodel.coordcheck import GPTCoordCheckConfig, gpt_coordcheck, module_kinds

SMALL = dict(widths=(32, 64, 128, 256), steps=1, seeds=2, n_layer=1, block_size=16, batch=8)


def test_module_kinds_of_the_gpt():
    model = build_gpt(GPTConfig(vocab_size=27, d_model=32, n_layer=1), "mup")
    kinds = module_kinds(model, roles_of(model))
    assert kinds["wte"] == "input" and kinds["lm_head"] == "output" and kinds["ln_f"] == "norm"
    assert kinds["blocks.0.attn"] == "hidden" and "blocks" not in kinds and "infwidth" not in kinds


def test_gpt_mup_passes():
    d = gpt_coordcheck(GPTCoordCheckConfig(preset="mup", **SMALL)).as_dict()
    assert d["passed"] and d["as_predicted"] and not d["growing_modules"]
    rows = [r for r in d["quantities"] if r["change"] and r["step"] == 1]
    assert {r["predicted_slope"] for r in rows} == {"0"} and all(r["pass"] for r in rows)


def test_gpt_sp_fails_where_predicted():
    d = gpt_coordcheck(GPTCoordCheckConfig(preset="sp", **SMALL)).as_dict()
    assert not d["passed"] and d["as_predicted"]
    assert "lm_head" in d["growing_modules"] and "blocks.0.mlp.c_fc" in d["growing_modules"]
    assert set(d["growing_modules"]) <= set(d["predicted_growing_modules"]) | {"blocks.0.ln_2", "ln_f", "blocks.0.ln_1"}
    lm = next(r for r in d["quantities"] if r["module"] == "lm_head" and r["change"] and r["step"] == 1)
    assert lm["predicted_slope"] == "1" and not lm["pass"] and lm["matches_prediction"]
    # the embeddings' change shrinks like n^-1/2 in SP: they pass
    wte = next(r for r in d["quantities"] if r["module"] == "wte" and r["change"])
    assert wte["predicted_slope"] == "-1/2" and wte["pass"]


def test_wrong_prediction_is_caught():
    # an SP model checked against muP's predictions must not match: swap the prediction table
    from infwidth.anymodel.coordcheck import module_predictions
    from infwidth.parametrizations import mup

    mc = gpt_coordcheck(GPTCoordCheckConfig(preset="sp", **SMALL))
    mc.check.predicted = module_predictions(mup(2), mc.kinds, mc.check.steps)
    d = mc.as_dict()
    assert not d["as_predicted"]


@pytest.mark.slow
def test_gpt_coordcheck_four_widths_three_seeds():
    for preset, ok in (("mup", True), ("ntp", True), ("sp", False)):
        d = gpt_coordcheck(GPTCoordCheckConfig(preset=preset, widths=(64, 128, 256, 512), steps=3, seeds=3)).as_dict()
        assert d["as_predicted"] and d["passed"] is ok, preset
    d = gpt_coordcheck(GPTCoordCheckConfig(preset="mup", optimizer="adam", widths=(32, 64, 128, 256))).as_dict()
    assert d["passed"]


def test_gpt_point_is_a_serialisable_unit():
    import json
    import pickle

    from infwidth.anymodel.coordcheck import assemble, gpt_point

    cfg = GPTCoordCheckConfig(preset="mup", **SMALL)
    points = [gpt_point(pickle.loads(pickle.dumps(cfg)), n, s) for s in (0, 1) for n in cfg.widths]
    points = json.loads(json.dumps(points))  # what a worker would send back
    a = assemble(points, steps=cfg.steps, base_tolerance=cfg.base_tolerance).as_dict()
    b = gpt_coordcheck(cfg).as_dict()
    assert a["quantities"] == b["quantities"] and a["passed"]
