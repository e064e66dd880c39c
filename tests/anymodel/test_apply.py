"""apply: the MLP through this path equals the dedicated MLP; GPT scales; param groups; checkpoints; bad input."""

import math

import pytest
import torch

from infwidth.anymodel import (
    GPT,
    GPTConfig,
    apply,
    build_gpt,
    gpt_roles,
    load_state_dict,
    make_optimizer,
    param_groups,
    record_of,
)
from infwidth.anymodel.mlp import build_mlp, mlp_module, mlp_roles
from infwidth.errors import UserError
from infwidth.networks import PracticalMLP
from infwidth.parametrizations import from_exponents, mup, ntp, sp

CFG = GPTConfig(vocab_size=27, block_size=16, d_model=64, n_head=4)


@pytest.mark.parametrize("p", [mup(3), sp(2), ntp(2)], ids=["mup", "sp", "ntp"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_mlp_through_anymodel_equals_dedicated_mlp(p, opt):
    ours = build_mlp(p, 48, 7, 4, seed=5)
    ref = PracticalMLP(p, 48, 7, 4, seed=5)
    o1 = make_optimizer(ours, opt, 0.05)
    o2 = ref.sgd(0.05) if opt == "sgd" else ref.adam(0.05)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 7, generator=gen), torch.randint(0, 4, (16,), generator=gen)
    for _ in range(3):
        f1, f2 = ours(x), ref(x)
        assert torch.equal(f1, f2)  # same seed, same numbers: bitwise
        for o, f in ((o1, f1), (o2, f2)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(f, y).backward()
            o.step()


def test_mlp_with_biases_matches_to_rounding():
    ours = build_mlp(mup(2), 32, 5, 3, seed=1, bias=True, bias_std=1.0)
    ref = PracticalMLP(mup(2), 32, 5, 3, seed=1, bias=True, bias_std=1.0)
    o1, o2 = make_optimizer(ours, "sgd", 0.1), ref.sgd(0.1)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    for _ in range(3):
        f1, f2 = ours(x), ref(x)
        torch.testing.assert_close(f1, f2, rtol=1e-5, atol=1e-6)
        for o, f in ((o1, f1), (o2, f2)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(f, y).backward()
            o.step()


def test_gpt_mup_scales_and_rates():
    model = build_gpt(CFG, "mup", seed=0)
    rec = record_of(model)
    n = CFG.d_model
    assert rec["multipliers"] == {"lm_head": pytest.approx(1 / n)}
    assert model.blocks[0].attn.scaling == pytest.approx(1 / 16)  # 1/head_dim, not 1/sqrt
    std = model.blocks[0].mlp.c_proj.weight.std().item()
    assert std == pytest.approx(1 / math.sqrt(4 * n), rel=0.1)  # variance 1/fan_in
    assert model.wte.weight.std().item() == pytest.approx(1.0, rel=0.1)
    assert torch.equal(model.ln_f.weight, torch.ones(n))
    lrs = {name: g["lr"] for g in param_groups(model, 1e-2, "adam") for name in g["names"]}
    assert lrs["wte.weight"] == pytest.approx(1e-2)  # input and vectors: rate independent of width
    assert lrs["blocks.0.ln_1.weight"] == pytest.approx(1e-2)
    assert lrs["blocks.0.attn.c_attn.weight"] == pytest.approx(1e-2 / n)  # hidden: 1/fan_in
    assert lrs["blocks.0.mlp.c_proj.weight"] == pytest.approx(1e-2 / (4 * n))
    assert lrs["lm_head.weight"] == pytest.approx(1e-2)  # readout with its 1/n multiplier
    sgd = {name: g["lr"] for g in param_groups(model, 0.1, "sgd") for name in g["names"]}
    assert sgd["wte.weight"] == pytest.approx(0.1 * n) and sgd["lm_head.weight"] == pytest.approx(0.1 * n)
    assert sgd["blocks.0.attn.c_proj.weight"] == pytest.approx(0.1)


def test_sp_keeps_sqrt_attention_and_explicit_equals_preset():
    model = build_gpt(CFG, "sp")
    assert model.blocks[0].attn.scaling == pytest.approx(1 / 4)
    a = build_gpt(CFG, "mup", seed=3)
    b = build_gpt(CFG, from_exponents(["-1/2", 0, "1/2"], ["1/2"] * 3, 0), seed=3)
    x = torch.randint(0, 27, (2, 16))
    assert torch.equal(a(x), b(x))


def test_groups_work_with_any_optimizer_scheduler_clipping():
    model = build_gpt(CFG, "mup")
    groups = param_groups(model, 3e-3, "adamw", weight_decay=0.1)
    opt = torch.optim.AdamW(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    before = [g["lr"] for g in opt.param_groups]
    x = torch.randint(0, 27, (4, 16))
    for _ in range(2):
        loss = model(x).logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    after = [g["lr"] for g in opt.param_groups]
    ratios = {round(a / b, 9) for a, b in zip(after, before, strict=True)}
    assert len(ratios) == 1 and 0 < ratios.pop() < 1  # the schedule scales every group alike
    assert all(g["weight_decay"] == 0.1 for g in opt.param_groups)


def test_save_load_round_trip_keeps_parametrization_and_rates(tmp_path):
    model = build_gpt(CFG, "mup", seed=2)
    opt = make_optimizer(model, "adam", 1e-2)
    x = torch.randint(0, 27, (2, 16))
    model(x).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = torch.load(tmp_path / "ckpt.pt")
    fresh = GPT(CFG)  # built without any parametrization: no setup re-run
    load_state_dict(fresh, ckpt["model"])
    assert torch.equal(fresh(x), model(x))
    assert fresh.blocks[1].attn.scaling == model.blocks[1].attn.scaling
    opt2 = make_optimizer(fresh, "adam", 1e-2)
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    opt2.load_state_dict(ckpt["opt"])
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    # a model that already carries it loads with plain load_state_dict
    again = build_gpt(CFG, "sp", seed=9)
    again.load_state_dict(ckpt["model"])
    assert torch.equal(again(x), model(x)) and record_of(again)["label"] == "mup"


def test_checkpoint_without_parametrization_is_one_line_error_and_changes_nothing():
    plain = GPT(CFG).state_dict()
    model = build_gpt(CFG, "mup")
    before = {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    with pytest.raises(UserError, match="checkpoint has no infwidth parametrization") as err:
        model.load_state_dict(plain)
    assert "\n" not in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items() if isinstance(v, torch.Tensor))
    with pytest.raises(UserError, match="checkpoint has no infwidth parametrization"):
        load_state_dict(GPT(CFG), plain)


def test_parametrization_not_fitting_the_roles_changes_nothing():
    model = GPT(CFG)
    roles = gpt_roles(CFG, model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UserError, match="no hidden layer.*blocks.0.attn.c_attn.weight"):
        apply(model, roles, mup(1))
    with pytest.raises(UserError, match="hidden layers 2..3 have different exponents"):
        apply(model, roles, from_exponents([0, 0, "1/2", 0], [0, "1/2", 0, "1/2"], 0))
    with pytest.raises(UserError, match="unknown preset"):
        apply(model, roles, "mfp")
    assert not hasattr(model, "infwidth")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    apply(model, roles, "mup")
    with pytest.raises(UserError, match="already parametrized"):
        apply(model, roles, "sp")
    with pytest.raises(UserError, match="roles were found on another model"):
        apply(mlp_module(8, 3, 2, 1), roles, "mup")
    with pytest.raises(UserError, match="no infwidth parametrization"):
        param_groups(GPT(CFG), 1e-3)


def test_mlp_without_hidden_weights_needs_depth_one():
    model = mlp_module(16, 3, 2, 1)
    roles = mlp_roles(model, 3, 2, 1)
    with pytest.raises(UserError, match="no hidden weight"):
        apply(model, roles, mup(2))
    apply(model, roles, "mup")  # the preset picks depth 1 itself
