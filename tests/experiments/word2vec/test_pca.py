"""States/cities word lists and the Figure 1 PCA picture with its separation numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from infwidth.errors import UserError
from infwidth.experiments.word2vec.analogy import Analogies
from infwidth.experiments.word2vec.pca import loo_similarity_accuracy, pca_2d, plot_states_cities
from infwidth.experiments.word2vec.places import (
    candidates_from_analogies,
    candidates_from_places,
    load_candidates,
    merge_candidates,
    states_and_cities,
)
from infwidth.experiments.word2vec.vocab import Vocab


def test_pca_matches_covariance_eigendecomposition():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 6)) @ np.diag([5.0, 3.0, 1.0, 0.5, 0.2, 0.1]) + 7.0
    coords, explained = pca_2d(x)
    cov = np.cov(x, rowvar=False, bias=True)
    evals = np.linalg.eigvalsh(cov)[::-1]
    assert np.allclose(coords.var(axis=0), evals[:2], rtol=1e-10)
    assert np.allclose(explained, evals[:2] / evals.sum(), rtol=1e-10)
    assert abs(np.corrcoef(coords.T)[0, 1]) < 1e-10
    again, _ = pca_2d(x[:, ::-1][:, ::-1])
    assert np.array_equal(coords, again)  # deterministic signs


def test_separation_measure():
    rng = np.random.default_rng(1)
    labels = np.array([False] * 30 + [True] * 30)
    apart = rng.standard_normal((60, 10)) * 0.3 + np.where(labels[:, None], 1.0, -1.0)
    apart -= apart.mean(axis=0)
    assert loo_similarity_accuracy(apart, labels) == 1.0
    mixed = rng.standard_normal((60, 2))
    assert 0.25 < loo_similarity_accuracy(mixed - mixed.mean(axis=0), labels) < 0.75
    with pytest.raises(UserError):
        loo_similarity_accuracy(mixed[:31], labels[:31])


def test_full_space_separation_is_unbiased_for_orthonormal_vectors():
    labels = np.array([False] * 20 + [True] * 20)
    one_hot = np.eye(40)
    assert loo_similarity_accuracy(one_hot, labels) == 0.5
    # a Euclidean leave-one-out nearest-centroid rule would score 0 here: own centroid of the
    # other 19 is at squared distance 1 + 1/19, the other class's at 1 + 1/20
    rng = np.random.default_rng(2)
    wide = rng.standard_normal((40, 4000))
    wide /= np.linalg.norm(wide, axis=1, keepdims=True)
    assert 0.25 < loo_similarity_accuracy(wide, labels) < 0.75
    apart = wide + np.where(labels[:, None], 0.05, -0.05)
    apart /= np.linalg.norm(apart, axis=1, keepdims=True)
    assert loo_similarity_accuracy(apart, labels) == 1.0


def _world(seed: int = 0):
    """A vocabulary of states and cities, random embeddings, and a version where they separate."""
    cands = load_candidates()  # shipped list
    states = list(cands)[:20]
    pairs_all = [(s, cands[s][0]) for s in states]
    words = ["the", "of"] + [w for p in pairs_all for w in p]
    vocab = Vocab(words, np.arange(len(words), 0, -1))
    rng = np.random.default_rng(seed)
    random = rng.standard_normal((len(words), 64))
    learned = random.copy()
    direction = rng.standard_normal(64)
    direction /= np.linalg.norm(direction)
    for s, c in pairs_all:
        learned[vocab[s]] += 4.0 * direction * np.sqrt(64) / 8
        learned[vocab[c]] -= 4.0 * direction * np.sqrt(64) / 8
    return vocab, random, learned, cands


def test_plot_states_cities_writes_panels_and_numbers(tmp_path):
    vocab, random, learned, cands = _world()
    pairs = states_and_cities(vocab, cands)
    assert len(pairs) == 20 and all(s in cands and c in cands[s] for s, c in pairs)
    res = plot_states_cities(
        {"NTK": torch.tensor(random), "width 64": learned * 0.5 + random * 0.5, "limit": learned},
        vocab, pairs, tmp_path / "fig" / "pca.png", title="test",
    )
    img = Image.open(res["path"])
    assert img.format == "PNG" and img.size[0] > 2.5 * img.size[1]
    sep = {k: v["separation_2d"] for k, v in res["panels"].items()}
    assert sep["limit"] == 1.0 and sep["NTK"] < 0.8
    assert res["panels"]["limit"]["separation_full"] == 1.0
    assert all(0 < v["explained"][1] <= v["explained"][0] <= 1 for v in res["panels"].values())


def test_labels_do_not_overlap_and_titles_carry_the_console_numbers(tmp_path):
    from infwidth.experiments.word2vec.pca import place_labels, separation_text
    from infwidth.plotting import plt

    vocab, random, learned, cands = _world()
    pairs = states_and_cities(vocab, cands)
    res = plot_states_cities({"NTK": random, "limit": learned}, vocab, pairs, tmp_path / "pca.png")
    assert all(p["label_overlaps"] == 0 for p in res["panels"].values())
    # the naive placement (every label at the same small offset) does overlap on this picture
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    crowded = np.random.default_rng(0).standard_normal((40, 2)) * 0.05
    ax.scatter(crowded[:, 0], crowded[:, 1])
    words = [w for p in pairs for w in p]
    renderer = fig.canvas.get_renderer()
    naive = [ax.annotate(w, tuple(xy), xytext=(2, 2), textcoords="offset points", fontsize=6).get_window_extent(renderer)
             for w, xy in zip(words, crowded, strict=True)]
    assert any(a.overlaps(b) for i, a in enumerate(naive) for b in naive[i + 1:])
    for t in list(ax.texts):
        t.remove()
    assert place_labels(ax, crowded, words) < len(words) // 4
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == len(words)
    plt.close(fig)
    text = separation_text(res["panels"]["limit"])
    assert text == "states/cities separation 100% in the PCA plane, 100% in full space"


def test_plot_bad_inputs(tmp_path):
    vocab, random, _, cands = _world()
    with pytest.raises(UserError, match="pair"):
        plot_states_cities({"a": random}, vocab, [("texas", "houston")], tmp_path / "x.png")
    pairs = states_and_cities(vocab, cands)
    with pytest.raises(UserError, match="shape"):
        plot_states_cities({"a": random[:-1]}, vocab, pairs, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_candidates_merge_and_analogy_section():
    qs = Analogies([
        ("capital-world", [("athens", "greece", "oslo", "norway")]),
        ("city-in-state", [("chicago", "illinois", "houston", "texas"), ("dallas", "texas", "chicago", "illinois"),
                           ("st", "louis", "x", "missouri")]),
    ])
    from_q = candidates_from_analogies(qs.sections)
    assert from_q["texas"] == ["houston", "dallas"] and from_q["illinois"] == ["chicago"]
    merged = merge_candidates({"texas": ["austin"], "illinois": []}, from_q)
    assert merged["texas"] == ["austin", "houston", "dallas"] and merged["illinois"] == ["chicago"]
    assert states_and_cities({"texas", "dallas", "illinois"}, merged) == [("texas", "dallas")]


def test_shipped_list_shape():
    cands = load_candidates()
    assert len(cands) == 40  # 50 states + DC, minus the 11 with two-word names
    assert "newyork" not in cands and "new" not in cands
    assert cands["illinois"][0] == "chicago" and cands["texas"][0] == "houston"
    assert all(c not in cands for cities in cands.values() for c in cities)


def test_places_data_gives_manifest_examples_and_the_shipped_list(real_data):
    root = real_data("places/us_states.json")
    from_places = candidates_from_places(root / "places")
    assert from_places["illinois"][0] == "chicago" and from_places["alabama"][0] == "huntsville"
    assert from_places["texas"][0] == "houston" and "dallas" in from_places["texas"]
    assert load_candidates(root) == load_candidates()  # the shipped list is what the data gives
