"""A transformers GPT-2 built from a config (no download) takes the parametrization like any module."""

import pytest
import torch

from infwidth.anymodel import apply, find_roles, make_optimizer, record_of
from infwidth.anymodel.classify import classify_model

transformers = pytest.importorskip("transformers", reason="transformers is an optional extra (pip install transformers)")


def _gpt2_class():
    """GPT2LMHeadModel; if an installed torchvision does not match torch (its import fails inside
    transformers' vision helpers, which GPT-2 never uses), retry with torchvision hidden; skip otherwise."""
    try:
        from transformers import GPT2LMHeadModel

        return GPT2LMHeadModel
    except Exception as exc:  # noqa: BLE001 - any import failure of the optional extra
        chain = f"{exc!r} {exc.__cause__!r}"
        if "torchvision" not in chain and "GPT2LMHeadModel" not in chain:
            pytest.skip(f"transformers is installed but GPT-2 does not import: {exc}")
    import transformers.utils as tu
    import transformers.utils.import_utils as iu

    for mod in (tu, iu):
        mod.is_torchvision_available = lambda: False
        mod.is_torchvision_v2_available = lambda: False
    try:
        from transformers import GPT2LMHeadModel
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"transformers is installed but GPT-2 does not import: {exc}")
    return GPT2LMHeadModel


def gpt2(n_embd):
    cfg = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=n_embd, n_layer=2, n_head=2,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return _gpt2_class()(cfg)


def test_gpt2_roles_apply_and_train():
    model = gpt2(32)
    roles = find_roles(model, gpt2(8), gpt2(16))
    r = {t.name: t.role for t in roles.tensors}
    assert r["transformer.wte.weight"] == "tied"  # GPT-2 ties its unembedding to wte
    assert r["transformer.wpe.weight"] == "embedding"
    assert r["transformer.h.0.attn.c_attn.weight"] == "hidden"  # Conv1D, weight stored (in, out)
    assert r["transformer.h.0.mlp.c_proj.weight"] == "hidden" and roles["transformer.h.0.mlp.c_proj.weight"].n == 128
    assert r["transformer.h.0.attn.c_attn.bias"] == "vector" and r["transformer.ln_f.weight"] == "vector"
    assert [a.module for a in roles.attention] == ["transformer.h.0.attn", "transformer.h.1.attn"]
    apply(model, roles, "mup", seed=0)
    assert record_of(model)["multipliers"] == {"lm_head": pytest.approx(1 / 32)}
    assert model.transformer.h[0].attn.scaling == pytest.approx(1 / 16)
    assert classify_model(model).regime == "feature-learning"
    opt = make_optimizer(model, "adamw", 1e-2)
    ids = torch.randint(0, 50, (2, 16))
    losses = []
    for _ in range(3):
        out = model(input_ids=ids, labels=ids)
        losses.append(out.loss.item())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    # the readout multiplier acts: the logits are 1/n of the tied matrix's raw product
    with torch.no_grad():
        hidden = model.transformer(ids).last_hidden_state
        raw = hidden @ model.transformer.wte.weight.T
        torch.testing.assert_close(model(input_ids=ids).logits, raw / 32, rtol=1e-5, atol=1e-6)
