"""classify_model: the GPT in muP, SP and NTP; tied and attention checks name the offending tensor."""

from fractions import Fraction

import pytest

from infwidth.anymodel import GPTConfig, build_gpt, gpt_roles
from infwidth.anymodel.classify import classify_model
from infwidth.anymodel.mlp import mlp_module, mlp_roles
from infwidth.errors import UserError
from infwidth.parametrizations import classify, mup

ROLES = gpt_roles(GPTConfig(vocab_size=27, d_model=64))
TIED = gpt_roles(GPTConfig(vocab_size=27, d_model=64, tied=True))


@pytest.mark.parametrize("roles", [ROLES, TIED], ids=["untied", "tied"])
def test_gpt_in_mup_learns_features_every_tensor_maximally(roles):
    for opt in ("sgd", "adam"):
        cm = classify_model(roles, "mup", optimizer=opt)
        assert cm.stable and cm.regime == "feature-learning" and cm.attention_exponent == 1
        assert all(v for v in cm.updated_maximally.values()), cm.updated_maximally


def test_gpt_in_sp_at_constant_rate_is_unstable_and_names_tensors():
    cm = classify_model(ROLES, "sp")
    assert not cm.stable and cm.regime == "unstable"
    assert "lm_head.weight" in cm.offending and any(".attn.c_attn." in t for t in cm.offending)
    assert "lm_head.weight" in cm.explanation
    # Adam with one width-independent rate: also unstable (hidden weights move too much)
    cm = classify_model(ROLES, "sp", optimizer="adam", adam_c=(0, 0, 0))
    assert not cm.stable and cm.offending[0].startswith("blocks.0.")
    # tied: the shared matrix's update moves the logits like n^(1/2)
    cm = classify_model(TIED, "sp", optimizer="adam", adam_c=(0, 0, 0))
    tied = [f for f in cm.failures if f.tensor == "wte.weight" and f.role == "tied"]
    assert tied and tied[0].by == Fraction(1, 2)


def test_gpt_in_ntp_and_sp_small_rate_are_kernel():
    assert classify_model(ROLES, "ntp").regime == "kernel"
    cm = classify_model(ROLES, "sp", c=1)
    assert cm.regime == "kernel" and cm.attention_exponent == Fraction(1, 2)


def test_mup_with_sqrt_attention_is_unstable_at_the_attention_module():
    cm = classify_model(ROLES, "mup", attention="1/2")
    assert not cm.stable and cm.offending == ["blocks.0.attn", "blocks.1.attn"]
    assert classify_model(ROLES, "up", s="1/4").attention_exponent == Fraction(3, 4)
    assert classify_model(ROLES, "up", s="1/4", attention="3/4").stable


def test_parametrized_model_and_mlp_agree_with_the_mlp_classifier():
    model = build_gpt(GPTConfig(vocab_size=27, d_model=32), "ntp")
    assert classify_model(model).regime == "kernel"
    roles = mlp_roles(mlp_module(16, 4, 3, 3), 4, 3, 3)
    for p in ("mup", "sp", "ntp"):
        assert classify_model(roles, p).regime == classify(mup(2) if p == "mup" else __import__(
            "infwidth.parametrizations", fromlist=[p]).__dict__[p](2)).regime
    with pytest.raises(UserError, match="carries its parametrization"):
        classify_model(model, "mup")
    with pytest.raises(UserError, match="adam_c has 2 entries"):
        classify_model(ROLES, "mup", optimizer="adam", adam_c=(0, 0))
