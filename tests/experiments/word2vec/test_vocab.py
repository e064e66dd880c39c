"""Vocabulary order and caps, encoding, subsampling and the negative-sampling law and sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.experiments.word2vec.vocab import NegativeSampler, Vocab, load_corpus

TOKENS = "b a c a b a d e e e f g a".split()  # a:4 e:3 b:2 c d f g:1


def test_order_min_count_and_cap():
    v = Vocab.build(TOKENS, min_count=1)
    assert v.words == ["a", "e", "b", "c", "d", "f", "g"]  # ties in first-appearance order
    assert v.counts.tolist() == [4, 3, 2, 1, 1, 1, 1]
    assert v.corpus_tokens == len(TOKENS) and v.train_words == len(TOKENS)
    assert Vocab.build(TOKENS, min_count=2).words == ["a", "e", "b"]
    assert Vocab.build(TOKENS, min_count=1, max_size=4).words == ["a", "e", "b", "c"]
    capped = Vocab.build(TOKENS, min_count=2, max_size=2)
    assert capped.words == ["a", "e"] and capped.corpus_tokens == len(TOKENS) and capped.train_words == 7
    chunked = Vocab.build([TOKENS[:5], TOKENS[5:]], min_count=1)
    assert chunked.words == v.words and chunked.counts.tolist() == v.counts.tolist()


def test_too_small_and_bad_settings_are_user_errors():
    for kwargs in ({"min_count": 5}, {"min_count": 0}, {"min_count": 1, "max_size": 0}):
        with pytest.raises(UserError) as err:
            Vocab.build(TOKENS, **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="vocabulary too small: 0 word"):
        Vocab.build([], min_count=1)


def test_encode_decode_and_persistence(tmp_path):
    v = Vocab.build(TOKENS, min_count=2)
    ids = v.encode("a x e b zz a".split())
    assert ids.dtype == np.int32 and ids.tolist() == [0, 1, 2, 0]
    assert v.encode(["x", "a"], dtype=np.int64, drop_unknown=False).tolist() == [-1, 0]
    assert v.decode(ids) == ["a", "e", "b", "a"]
    assert v.encode_chunks([["a"], [], ["b", "q"]]).tolist() == [0, 2]
    back = Vocab.load(v.save(tmp_path / "vocab.json"))
    assert back.words == v.words and back.counts.tolist() == v.counts.tolist()
    assert back.corpus_tokens == v.corpus_tokens and back["e"] == 1 and "x" not in back
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserError, match="cannot read vocabulary"):
        Vocab.load(tmp_path / "bad.json")


def test_keep_probs_follow_word2vec_c():
    counts = np.array([600_000, 30_000, 1_000, 50, 1], dtype=np.int64)
    v = Vocab([f"w{i}" for i in range(5)], counts)
    t = 1e-4
    total = counts.sum()
    for i, c in enumerate(counts):  # word2vec.c: ran = (sqrt(cn / (sample*train_words)) + 1) * (sample*train_words) / cn
        ran = (math.sqrt(c / (t * total)) + 1) * (t * total) / c
        assert v.keep_probs(t)[i].item() == pytest.approx(min(1.0, ran), rel=1e-12)
    keep = v.keep_probs(t)
    assert keep[0] < keep[1] < keep[2] < 1.0 and keep[3] == keep[4] == 1.0
    assert torch.equal(v.keep_probs(0.0), torch.ones(5, dtype=torch.float64))


def test_negative_probs_are_counts_to_the_three_quarters():
    v = Vocab.build(TOKENS, min_count=1)
    p = v.negative_probs()
    assert p.dtype == torch.float64 and p.sum().item() == pytest.approx(1.0, abs=1e-15)
    assert (p[0] / p[2]).item() == pytest.approx((4 / 2) ** 0.75, rel=1e-12)
    assert torch.allclose(v.negative_probs(1.0), torch.tensor(v.counts / v.counts.sum()))


def test_alias_sampler_is_exact_and_reproducible():
    rng = np.random.default_rng(0)
    probs = torch.tensor(rng.pareto(1.0, size=300) + 1e-3, dtype=torch.float64)
    probs /= probs.sum()
    sampler = NegativeSampler(probs)
    assert torch.allclose(sampler.probs(), probs, atol=1e-14, rtol=0)
    n = 400_000
    draws = sampler.sample((n // 25, 25), generator=torch.Generator().manual_seed(1))
    assert draws.shape == (n // 25, 25) and draws.dtype == torch.int64
    freq = torch.bincount(draws.flatten(), minlength=300).double()
    expected = probs * n
    chi2 = ((freq - expected) ** 2 / expected).sum().item()
    assert chi2 < 299 + 6 * math.sqrt(2 * 299)  # chi-square with 299 dof: mean 299, sd 24.5
    again = sampler.sample((n // 25, 25), generator=torch.Generator().manual_seed(1))
    assert torch.equal(draws, again)
    point = NegativeSampler(torch.tensor([0.0, 1.0, 0.0]))
    assert set(point.sample(1000).tolist()) == {1}


def test_load_corpus_builds_and_encodes(tmp_path):
    text = " ".join(TOKENS * 3)
    (tmp_path / "c.txt").write_text(text.upper() + "\n")
    vocab, ids = load_corpus(tmp_path / "c.txt", min_count=3)
    ref = Vocab.build(TOKENS * 3, min_count=3)
    assert vocab.words == ref.words and vocab.corpus_tokens == 3 * len(TOKENS)
    assert ids.tolist() == ref.encode(TOKENS * 3).tolist()
    vocab, ids = load_corpus(tmp_path / "c.txt", min_count=1, max_chars=7)  # "b a c a"
    assert vocab.words == ["a", "b", "c"] and ids.tolist() == [1, 0, 2, 0]
