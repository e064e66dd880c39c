"""A small synthetic corpus whose analogies are learnable, for tests and the tour.

Words ``r<R>e<I>`` (role R, entity I) occur in short sentences together with marker words of
their role (``role<R>_<k>``) and of their entity (``ent<I>_<k>``). CBOW then gives each such word
an embedding built from its role's and its entity's contexts, so ``r0eI : r1eI :: r0eJ : r1eJ``
holds when features are learned -- and cannot when the embeddings stay frozen (the kernel regime).
"""

from __future__ import annotations

import numpy as np

from infwidth.experiments.word2vec.analogy import Analogies


def synthetic_analogy_corpus(
    n_entities: int = 8,
    n_roles: int = 2,
    markers: int = 3,
    sentences: int = 4000,
    seed: int = 0,
) -> tuple[list[str], np.ndarray, Analogies, int]:
    """Returns (words, token ids, analogy questions, sentence length). Markers come first in the
    vocabulary (they are the most frequent words), then the role-entity words."""
    rng = np.random.default_rng(seed)
    role_words = [f"role{r}_{k}" for r in range(n_roles) for k in range(markers)]
    ent_words = [f"ent{i}_{k}" for i in range(n_entities) for k in range(markers)]
    pair_words = [f"r{r}e{i}" for r in range(n_roles) for i in range(n_entities)]
    words = role_words + ent_words + pair_words
    index = {w: i for i, w in enumerate(words)}
    length = 1 + 2 * markers
    out = np.empty((sentences, length), dtype=np.int64)
    for s in range(sentences):
        r, i = rng.integers(n_roles), rng.integers(n_entities)
        sent = [index[f"r{r}e{i}"]]
        sent += [index[f"role{r}_{k}"] for k in rng.integers(0, markers, size=markers)]
        sent += [index[f"ent{i}_{k}"] for k in rng.integers(0, markers, size=markers)]
        out[s] = rng.permutation(sent)
    questions = [
        (f"r{a}e{i}", f"r{b}e{i}", f"r{a}e{j}", f"r{b}e{j}")
        for a in range(n_roles)
        for b in range(n_roles)
        if a != b
        for i in range(n_entities)
        for j in range(n_entities)
        if i != j
    ]
    return words, out.reshape(-1), Analogies([("roles", questions)]), length
