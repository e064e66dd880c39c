"""Training: batches, schedule, memory checks, and the regimes' ordering on learnable analogies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.experiments.word2vec.config import (
    GB,
    TrainConfig,
    check_memory,
    largest_vocab_fitting,
    model_bytes,
    parse_bytes,
)
from infwidth.experiments.word2vec.models import build_model
from infwidth.experiments.word2vec.synthetic import synthetic_analogy_corpus
from infwidth.experiments.word2vec.train import (
    corpus_from_ids,
    epoch_stream,
    evaluate_embeddings,
    learning_rate,
    make_batch,
    train_model,
)


def test_regimes_order_on_learnable_analogies():
    """On a corpus whose analogies are learnable: the muP limit >= wide >= narrow widths, and the
    kernel regime (frozen embeddings, identity or random) gets none of them."""
    words, ids, questions, length = synthetic_analogy_corpus(sentences=1500, seed=0)
    data = corpus_from_ids(words, ids, subsample=0)
    cfg = TrainConfig(epochs=2, window=6, negatives=5, sentence_length=length, batch_size=32, subsample=0)
    acc = {}
    for spec in ("limit", "mup:64", "mup:4", "ntk", "ntk:64"):
        model = build_model(spec, len(words), seed=0, dtype=torch.float64)
        train_model(model, data, cfg, progress=False)
        acc[spec] = evaluate_embeddings(model.embeddings(), words, questions)["accuracy"]
    assert acc["limit"] >= 0.9
    assert acc["limit"] >= acc["mup:64"] >= acc["mup:4"]
    assert acc["mup:64"] > acc["mup:4"] + 0.2
    assert acc["ntk"] <= 0.05 and acc["ntk:64"] <= 0.1


def test_batches_respect_shrunk_windows_and_sentences():
    cfg = TrainConfig(window=3, negatives=4, sentence_length=10, batch_size=8)
    kept = np.arange(100) % 50
    neg_cdf = np.cumsum(np.full(50, 1 / 50))
    rng = np.random.default_rng(0)
    ctx, mask, tgt, neg = make_batch(kept, 5, 25, cfg, neg_cdf, rng)
    assert ctx.shape == (20, 6) and neg.shape == (20, 4)
    assert (neg >= 0).all() and (neg < 50).all()
    offsets = np.array([-3, -2, -1, 1, 2, 3])
    for row, j in enumerate(range(5, 25)):
        assert tgt[row] == kept[j]
        used = offsets[mask[row]]
        assert used.size > 0 or j % 10 == 0
        pos = j + used
        assert ((pos // 10) == (j // 10)).all()  # never crosses a sentence
        assert (ctx[row][mask[row]] == kept[pos]).all()
        # the window is symmetric: shrinking keeps |offset| <= w - b on both sides
        assert set(np.abs(used)) <= set(range(1, 4))
    # the shrink is random per target: some rows use all 3 positions on a side, some fewer
    widths = [np.abs(offsets[m]).max() for m, j in zip(mask, range(5, 25), strict=True) if m.any() and 3 <= j % 10 <= 6]
    assert len(set(widths)) > 1


def test_learning_rate_decays_linearly_to_its_floor():
    cfg = TrainConfig(lr=0.05, min_lr_fraction=1e-4)
    assert learning_rate(cfg, 0, 1000) == pytest.approx(0.05)
    assert learning_rate(cfg, 500, 1000) == pytest.approx(0.05 * (1 - 500 / 1001))
    assert learning_rate(cfg, 1000, 1000) == pytest.approx(0.05 / 1001)
    assert learning_rate(cfg, 1001, 1000) == pytest.approx(0.05 * 1e-4)  # the floor


def test_subsampling_is_seeded_and_keeps_the_expected_share():
    rng = np.random.default_rng(0)
    ids = rng.choice(200, size=200_000, p=(1 / np.arange(1, 201)) / (1 / np.arange(1, 201)).sum())
    data = corpus_from_ids([f"w{i}" for i in range(200)], ids, subsample=1e-3)
    kept_a, pos_a = epoch_stream(data, seed=1, epoch=0)
    kept_b, _ = epoch_stream(data, seed=1, epoch=0)
    kept_c, _ = epoch_stream(data, seed=1, epoch=1)
    assert np.array_equal(kept_a, kept_b) and not np.array_equal(kept_a, kept_c)
    expected = data.keep[data.ids].sum()
    assert abs(len(kept_a) - expected) < 5 * np.sqrt(expected)
    assert (data.ids[pos_a] == kept_a).all()


def test_memory_estimate_and_refusal():
    # the two V x V float32 matrices of the limit at V = 30,000 are 7.2 GB, plus working memory
    assert 7.2 * GB < model_bytes("limit", 30_000) < 8 * GB
    assert model_bytes("mup:256", 30_000) < 1 * GB
    counts = np.arange(40_000, 0, -1)  # word i seen 40,000 - i times
    with pytest.raises(UserError) as err:
        check_memory(["mup:256", "limit"], 30_000, counts, limit_bytes=6 * GB)
    message = str(err.value)
    cap = largest_vocab_fitting("limit", 6 * GB)
    assert f"`vocab_cap={cap}`" in message and f"`min_count={counts[cap] + 1}`" in message  # CLI: --vocab-cap
    assert model_bytes("limit", cap) <= 6 * GB < model_bytes("limit", cap + 1)
    assert (counts >= counts[cap] + 1).sum() <= cap  # that min-count leaves a vocabulary that fits
    assert "\n" not in message
    assert check_memory(["mup:256"], 30_000, counts, limit_bytes=8 * GB)["mup:256"] < 8 * GB


def test_parse_bytes():
    assert parse_bytes("8GB") == 8e9 and parse_bytes("512MB") == 512e6 and parse_bytes("1e9") == 1e9
    for bad in ("lots", "-1GB", "0"):
        with pytest.raises(UserError):
            parse_bytes(bad)


def test_bfloat16_storage_is_refused_on_a_device_without_it(monkeypatch):
    import torch

    from infwidth.experiments.word2vec.train import check_storage

    check_storage(torch.bfloat16, torch.device("cpu"))  # the CPU stores bfloat16
    check_storage(torch.float32, torch.device("cuda"))  # float32 needs no check
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    with pytest.raises(UserError, match="cannot store bfloat16"):
        check_storage(torch.bfloat16, torch.device("cuda"))


def test_storage_config_round_trip_and_checks():
    from infwidth.experiments.word2vec.config import TrainConfig, validate

    cfg = TrainConfig(storage="bfloat16")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg and cfg.storage_bytes == 2
    assert "storage" not in TrainConfig().to_dict()  # runs recorded before the field still resume
    with pytest.raises(UserError, match="computes in float32"):
        validate(TrainConfig(storage="bfloat16", dtype="float64"))
    assert model_bytes("limit", 67_903, 2) < 20 * GB < model_bytes("limit", 67_903, 4)


def test_run_eta_ignores_words_skipped_on_resume(monkeypatch):
    """A resumed run jumps to its checkpoint's position: those words were not done now, so the ETA
    must come from the words trained since (a bug once showed '1m left' for 40 min of work)."""
    import infwidth.experiments.word2vec.train as train

    clock = {"t": 0.0}
    monkeypatch.setattr(train.time, "perf_counter", lambda: clock["t"])
    bar = train.RunProgress(total=15_000_000, enabled=False)
    clock["t"] = 60.0  # reading the corpus
    bar.jump(2_000_000)  # resumed after epoch 2 of 15 (1M words each)
    for _ in range(30):  # then 1,000 words/s for a minute
        clock["t"] += 2.0
        bar.moveto(bar.n + 2_000)
    assert bar.eta_seconds() == pytest.approx((15_000_000 - bar.n) / 1_000, rel=1e-6)
