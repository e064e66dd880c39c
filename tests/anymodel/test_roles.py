"""Roles: width dims from base/delta or annotations, on the GPT, the MLP, a tied model and a custom module."""

import pytest
import torch
from torch import nn

from infwidth.anymodel import GPT, GPTConfig, find_roles, gpt_roles
from infwidth.anymodel.mlp import mlp_module, mlp_roles
from infwidth.errors import UserError


def roles_by_name(roles):
    return {t.name: t.role for t in roles.tensors}


def test_gpt_roles_untied():
    cfg = GPTConfig(vocab_size=27, d_model=64, n_head=4)
    roles = gpt_roles(cfg)
    r = roles_by_name(roles)
    assert r["wte.weight"] == "embedding" and r["wpe.weight"] == "embedding"
    assert r["lm_head.weight"] == "output"
    for k in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
        assert r[f"blocks.0.{k}.weight"] == "hidden"
    assert r["blocks.1.ln_1.weight"] == "vector" and roles["blocks.1.ln_1.weight"].norm_gain
    # n is the width the exponents refer to: fan-in for hidden/output, fan-out for embeddings
    assert roles["blocks.0.mlp.c_proj.weight"].n == 256 and roles["blocks.0.mlp.c_fc.weight"].n == 64
    assert roles["wte.weight"].n == 64 and roles["lm_head.weight"].n == 64
    assert [a.module for a in roles.attention] == ["blocks.0.attn", "blocks.1.attn"]
    assert roles.attention[0].head_dim == 16
    table = roles.table()
    assert "lm_head.weight" in table and "attention" in table


def test_tied_embedding_is_one_tied_tensor():
    roles = gpt_roles(GPTConfig(vocab_size=27, d_model=32, tied=True))
    r = roles_by_name(roles)
    assert r["wte.weight"] == "tied" and "lm_head.weight" not in r
    assert roles["wte.weight"].readout_module == "lm_head" and roles["wte.weight"].tied_with == "lm_head.weight"


def test_mlp_roles_with_bias():
    model = mlp_module(16, 5, 3, 2, bias=True)
    roles = mlp_roles(model, 5, 3, 2, bias=True)
    r = roles_by_name(roles)
    assert (r["0.weight"], r["2.weight"], r["4.weight"]) == ("input", "hidden", "output")
    assert r["0.bias"] == "vector" and r["4.bias"] == "vector"
    assert roles["4.bias"].readout_module == "4" and roles["4.bias"].n == 16  # the readout bias
    assert roles["0.weight"].finite_fan_in == 5


class Gate(nn.Module):
    """A custom module: a width x width matrix the roles cannot lay out by type."""

    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n, n))
        self.scale = nn.Parameter(torch.ones(3))  # width-independent

    def forward(self, x):
        return x @ self.w * self.scale.mean()


class Custom(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.inp = nn.Linear(4, n)
        self.gate = Gate(n)
        self.out = nn.Linear(n, 2)

    def forward(self, x):
        return self.out(self.gate(self.inp(x)))


def test_custom_module_needs_annotation_and_then_works():
    with pytest.raises(UserError, match="cannot place parameter 'gate.w'.*annotate"):
        find_roles(Custom(8), Custom(2), Custom(4))
    roles = find_roles(Custom(8), Custom(2), Custom(4), annotations={"gate.w": "hidden"})
    r = roles_by_name(roles)
    assert r["gate.w"] == "hidden" and r["gate.scale"] == "finite" and r["inp.weight"] == "input"
    assert r["inp.bias"] == "vector" and r["out.weight"] == "output"


def test_annotations_alone():
    roles = find_roles(Custom(8), annotations={"inp.weight": "input", "inp.bias": "vector", "gate.w": "hidden",
                                               "gate.scale": "finite", "out.*": "output"})
    assert roles["gate.w"].n == 8 and roles["out.weight"].role == "output"


def test_bad_instances_are_one_line_errors():
    cfg = GPTConfig(vocab_size=27, d_model=32)
    same = GPT(cfg, device="meta")
    with pytest.raises(UserError, match="do not differ in any dimension"):
        find_roles(GPT(cfg), same, GPT(cfg, device="meta"))
    deeper = GPT(GPTConfig(vocab_size=27, d_model=64, n_layer=3), device="meta")
    with pytest.raises(UserError, match="extra parameter 'blocks.2"):
        find_roles(GPT(cfg), same, deeper)
    # vocabulary grows while d_model shrinks: not a width change
    odd = GPT(GPTConfig(vocab_size=40, d_model=16), device="meta")
    with pytest.raises(UserError, match="shrinks from base to delta"):
        find_roles(GPT(cfg), same, odd)
    with pytest.raises(UserError, match="unknown role"):
        find_roles(GPT(cfg), annotations={"wte.weight": "readout"})
    with pytest.raises(UserError, match="no width information"):
        find_roles(GPT(cfg))
