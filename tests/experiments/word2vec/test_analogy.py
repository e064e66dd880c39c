"""Analogy file parsing and 3CosAdd evaluation against a question-by-question float64 reference."""

from __future__ import annotations

import lzma

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.experiments.word2vec.analogy import (
    analogy_path,
    evaluate_analogies,
    format_table,
    load_analogies,
)

FILE = """\
Paris France Rome Italy
: capital-common-countries
Athens Greece Baghdad Iraq
athens greece   Oslo Norway

this line has five words
too few words
:
: family
boy girl brother sister
boy girl king queen
"""


def test_parsing_counts_malformed_lines(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(FILE)
    a = load_analogies(path)
    assert [name for name, _ in a.sections] == ["unsectioned", "capital-common-countries", "family"]
    assert a.sections[1][1] == [("athens", "greece", "baghdad", "iraq"), ("athens", "greece", "oslo", "norway")]
    assert a.n_questions == 5 and a.malformed == 3 and a.malformed_lines == [6, 7, 8]
    assert load_analogies(path, lowercase=False).sections[0][1][0] == ("Paris", "France", "Rome", "Italy")
    xz = tmp_path / "q.txt.xz"
    xz.write_bytes(lzma.compress(FILE.encode()))
    assert load_analogies(xz).sections == a.sections


def test_bad_files_are_one_line_user_errors(tmp_path):
    (tmp_path / "empty.txt").write_text(": section\nonly three words\n")
    (tmp_path / "latin1.txt").write_bytes(b": s\ncaf\xe9 a b c\n")
    for path, msg in (
        (tmp_path / "missing.txt", "does not exist"),
        (tmp_path / "empty.txt", "no questions"),
        (tmp_path / "latin1.txt", "cannot read"),
    ):
        with pytest.raises(UserError, match=msg) as err:
            load_analogies(path)
        assert "\n" not in str(err.value)


def reference_accuracy(emb: np.ndarray, words: list[str], questions) -> tuple[int, int, int]:
    """One question at a time in float64: normalize, add, mask a, b, c, take the argmax."""
    index = {w: i for i, w in enumerate(words)}
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-300)
    correct = evaluated = skipped = 0
    for q in questions:
        if any(w not in index for w in q):
            skipped += 1
            continue
        a, b, c, d = (index[w] for w in q)
        sims = unit @ (unit[b] - unit[a] + unit[c])
        sims[[a, b, c]] = -np.inf
        correct += int(np.argmax(sims) == d)
        evaluated += 1
    return correct, evaluated, skipped


def random_case(seed: int, V: int = 60, n: int = 6, per_section: int = 80, sections: int = 7):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(V)]
    emb = rng.standard_normal((V, n))
    secs = []
    for s in range(sections):
        qs = [tuple(words[i] for i in rng.choice(V, 4, replace=False)) for _ in range(per_section)]
        qs += [("w0", "w1", "unknown", "w2")] * (s % 3)  # skipped questions
        secs.append((f"sec{s}", qs))
    from infwidth.experiments.word2vec.analogy import Analogies

    return emb, words, Analogies(secs)


@pytest.mark.parametrize("method", ["direct", "shared"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_per_section(seed, method):
    emb, words, analogies = random_case(seed)
    res = evaluate_analogies(torch.tensor(emb), words, analogies, dtype=torch.float64, chunk_size=37, method=method)
    for name, qs in analogies.sections:
        c, e, s = reference_accuracy(emb, words, qs)
        assert (res["sections"][name]["correct"], res["sections"][name]["evaluated"]) == (c, e)
        assert res["sections"][name]["skipped"] == s
    all_q = [q for _, qs in analogies.sections for q in qs]
    sem_q = [q for _, qs in analogies.sections[:5] for q in qs]
    assert (res["total"]["correct"], res["total"]["evaluated"]) == reference_accuracy(emb, words, all_q)[:2]
    assert res["semantic"]["correct"] == reference_accuracy(emb, words, sem_q)[0]
    assert res["semantic"]["evaluated"] + res["syntactic"]["evaluated"] == res["total"]["evaluated"]
    assert 0 < res["total"]["correct"] < res["total"]["evaluated"]  # random vectors: some right, most wrong
    assert res["total"]["skipped"] == sum(s % 3 for s in range(7))


def test_row_scaling_does_not_matter():
    emb, words, analogies = random_case(3)
    base = evaluate_analogies(emb, words, analogies, dtype=torch.float64)
    scales = np.random.default_rng(9).uniform(0.01, 100.0, size=(len(words), 1))
    scaled = evaluate_analogies(emb * scales, words, analogies, dtype=torch.float64)
    assert scaled["sections"] == base["sections"]


def test_planted_analogies_need_normalization_and_exclusion():
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((16, 16)))[0]
    male, female, royal, young = basis[0], basis[1], basis[2], basis[3]
    vecs = {
        "man": male, "woman": female, "king": male + royal, "queen": female + royal,
        "boy": male + young, "girl": female + young, "noise": basis[4],
        # long vector whose raw dot product with king - man + woman beats queen's, cosine does not
        "giant": 50 * (royal + 0.5 * basis[6]),
        # paris ~ parisian, so france itself is the raw nearest neighbour of the target
        "paris": basis[8], "parisian": basis[8] + 0.05 * basis[9],
        "france": basis[10], "french": basis[10] + 0.3 * basis[11],
    }
    words = list(vecs)
    emb = np.stack([vecs[w] for w in words])
    from infwidth.experiments.word2vec.analogy import Analogies

    qs = [("man", "king", "woman", "queen"), ("man", "woman", "king", "queen"),
          ("boy", "girl", "man", "woman"), ("paris", "france", "parisian", "french")]
    for method in ("direct", "shared"):
        res = evaluate_analogies(torch.tensor(emb, dtype=torch.float32), words, Analogies([("planted", qs)]), method=method)
        assert res["total"] == {"correct": 4, "evaluated": 4, "skipped": 0, "accuracy": 1.0}
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    idx = {w: i for i, w in enumerate(words)}
    a, b, c, _ = (idx[w] for w in qs[0])
    assert words[int(np.argmax(emb @ (unit[b] - unit[a] + unit[c])))] == "giant"  # unnormalized fails
    a, b, c, _ = (idx[w] for w in qs[3])
    assert words[int(np.argmax(unit @ (unit[b] - unit[a] + unit[c])))] == "france"  # no exclusion fails
    table = format_table(res)
    assert "| planted | 4 | 4 | 0 | 100.00 |" in table and "**total**" in table


def test_restrict_and_bad_embeddings():
    emb, words, analogies = random_case(4)
    res = evaluate_analogies(emb, words, analogies, restrict=30)
    c, e, s = reference_accuracy(emb[:30], words[:30], [q for _, qs in analogies.sections for q in qs])
    assert (res["total"]["correct"], res["total"]["evaluated"], res["total"]["skipped"]) == (c, e, s)
    bad = emb.copy()
    bad[3, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        evaluate_analogies(bad, words, analogies)
    with pytest.raises(UserError, match="shape"):
        evaluate_analogies(emb[:-1], words, analogies)
    with pytest.raises(UserError, match="unknown analogy method"):
        evaluate_analogies(emb, words, analogies, method="fast")


def test_shipped_copy_parses_like_the_original():
    a = load_analogies()  # the shipped .xz copy
    assert analogy_path().name == "questions-words.txt.xz"
    assert a.n_questions == 19_544 and len(a.sections) == 14 and a.malformed == 0
    assert a.sections[0][0] == "capital-common-countries" and a.sections[-1][0] == "gram9-plural-verbs"
    sizes = dict((n, len(q)) for n, q in a.sections)
    assert sizes["city-in-state"] == 2_467


def test_real_file_equals_shipped_copy(real_data):
    root = real_data("analogy/questions-words.txt")
    assert load_analogies(analogy_path(root)).sections == load_analogies().sections


@pytest.mark.slow
def test_manifest_coverage_on_text8_like_prefix(real_data):
    root = real_data("analogy/questions-words.txt")
    from infwidth.experiments.word2vec.vocab import load_corpus

    vocab, _ = load_corpus(root, max_chars=10**8, min_count=5)
    a = load_analogies(analogy_path(root))
    assert len(vocab) == 67_903
    assert a.coverage(vocab) == 16_242
    assert a.coverage(set(vocab.words[:30_000])) == 11_911
    res = evaluate_analogies(torch.randn(len(vocab), 16), vocab, a)
    assert res["total"]["evaluated"] == 16_242 and res["total"]["accuracy"] < 0.01


def test_agrees_with_gensim_when_installed(tmp_path):
    """Same per-section counts as gensim's ``evaluate_word_analogies`` on planted, noisy vectors."""
    gensim_models = pytest.importorskip("gensim.models")
    from infwidth.experiments.word2vec.export import save_word2vec

    q = load_analogies()
    rng = np.random.default_rng(0)
    vec: dict[str, np.ndarray] = {}
    for _, qs in q.sections:
        offset = 0.8 * rng.standard_normal(50)
        for a, b, c, d in qs:
            for x, y in ((a, b), (c, d)):
                vec.setdefault(x, rng.standard_normal(50))
                vec.setdefault(y, vec[x] + offset + 1.3 * rng.standard_normal(50))
    words = [w for w in vec if w not in ("athens", "walking", "boy")] + [f"pad{i}" for i in range(500)]
    emb = np.stack([vec[w] if w in vec else rng.standard_normal(50) for w in words]).astype(np.float32)
    mine = evaluate_analogies(emb, words, q)
    kv = gensim_models.KeyedVectors.load_word2vec_format(str(save_word2vec(tmp_path / "v.txt", words, emb)))
    qfile = tmp_path / "q.txt"
    qfile.write_bytes(lzma.open(analogy_path()).read())
    _, sections = kv.evaluate_word_analogies(str(qfile), restrict_vocab=10**9, case_insensitive=True)
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    for name, score in mine["sections"].items():
        assert (score["correct"], score["evaluated"]) == theirs[name]
    assert (mine["total"]["correct"], mine["total"]["evaluated"]) == theirs["Total accuracy"]
    assert 0.3 < mine["total"]["accuracy"] < 0.9
