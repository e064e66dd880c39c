"""train(TrainConfig): the GPT learns characters of the shipped Wikipedia sample; same config, same numbers."""

import math
import pickle

import pytest

from infwidth.anymodel.gpt import GPTConfig
from infwidth.anymodel.train import VOCAB, TrainConfig, char_corpus, train
from infwidth.errors import UserError

SMALL = GPTConfig(vocab_size=len(VOCAB), block_size=16, n_layer=1, n_head=2, d_model=32)


def test_corpus_is_the_shipped_sample():
    tokens = char_corpus(10_000)
    assert tokens.numel() == 10_000 and int(tokens.max()) < len(VOCAB)
    text = "".join(VOCAB[i] for i in tokens[:11].tolist())
    assert text == "anarchism a"


def test_training_lowers_the_loss_and_is_reproducible():
    cfg = TrainConfig(model=SMALL, steps=30, batch=8, lr=2e-2, n_chars=50_000)
    a = train(cfg)
    b = train(pickle.loads(pickle.dumps(cfg)))  # picklable: a sweep harness may ship it to workers
    assert a.losses == b.losses and a.val_loss == b.val_loss
    assert math.isclose(a.losses[0], math.log(len(VOCAB)), rel_tol=0.1)  # muP: logits ~ 0 at init
    assert sum(a.losses[-5:]) / 5 < a.losses[0] - 0.3 and not a.diverged
    assert a.as_dict()["config"]["parametrization"] == "mup"


def test_sgd_sp_and_adam_variants_run():
    for kw in (dict(parametrization="sp", optimizer="sgd", lr=0.1), dict(parametrization="ntp", adam_c=("0", "0", "0")),
               dict(optimizer="adamw", weight_decay=0.1, warmup=3)):
        res = train(TrainConfig(model=SMALL, steps=3, batch=4, n_chars=20_000, **kw))
        assert len(res.losses) == 3


def test_bad_config_is_one_line():
    with pytest.raises(UserError, match="vocab_size=27"):
        TrainConfig(model=GPTConfig(vocab_size=50))
    with pytest.raises(UserError, match="unknown optimizer"):
        TrainConfig(model=SMALL, optimizer="lion")
    with pytest.raises(UserError, match="not a multiple of n_head"):
        GPTConfig(d_model=30, n_head=4)
