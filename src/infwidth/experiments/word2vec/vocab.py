"""The vocabulary: words by decreasing count, integer ids, subsampling and negative-sampling laws.

Ordering is count descending, ties by first appearance in the corpus (deterministic; word2vec.c
leaves ties to ``qsort``). ``min_count`` drops rare words, ``max_size`` keeps the most frequent
ones; unknown words are dropped when encoding, as word2vec.c does before it forms windows.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from infwidth.errors import UserError


@dataclass
class Vocab:
    """Words (id = position), their corpus counts, and ``corpus_tokens`` (all tokens, known or not)."""

    words: list[str]
    counts: np.ndarray
    corpus_tokens: int = 0
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        if len(self.words) != len(self.counts):
            raise ValueError("words and counts differ in length")
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("duplicate words in vocabulary")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_counts(
        cls,
        counts: Counter[str] | dict[str, int],
        *,
        min_count: int = 5,
        max_size: int | None = None,
        min_words: int = 2,
        corpus_tokens: int | None = None,
    ) -> Vocab:
        """Keep words with count >= ``min_count``, then the ``max_size`` most frequent ones."""
        if min_count < 1:
            raise UserError(f"min_count must be >= 1 (got {min_count})")
        if max_size is not None and max_size < 1:
            raise UserError(f"max_size must be >= 1 (got {max_size}); omit it for no cap")
        kept = [(w, c) for w, c in counts.items() if c >= min_count]
        kept.sort(key=lambda wc: -wc[1])  # stable: ties stay in first-appearance order
        if max_size is not None:
            kept = kept[:max_size]
        if len(kept) < min_words:
            raise UserError(
                f"vocabulary too small: {len(kept)} word(s) at min-count {min_count} "
                f"(need {min_words}); lower the min-count or use a larger corpus"
            )
        total = sum(counts.values()) if corpus_tokens is None else corpus_tokens
        return cls([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64), total)

    @classmethod
    def build(
        cls,
        tokens: Iterable[str] | Iterable[Sequence[str]],
        *,
        min_count: int = 5,
        max_size: int | None = None,
        min_words: int = 2,
    ) -> Vocab:
        """Count ``tokens`` (a flat iterable of words, or of lists of words) and build the vocabulary."""
        counter: Counter[str] = Counter()
        it = iter(tokens)
        first = next(it, None)
        if first is not None:
            if isinstance(first, str):
                counter.update(itertools.chain([first], it))
            else:
                for chunk in itertools.chain([first], it):
                    counter.update(chunk)
        return cls.from_counts(counter, min_count=min_count, max_size=max_size, min_words=min_words)

    # ---- lookups --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        return self.index[word]

    @property
    def train_words(self) -> int:
        """Occurrences of in-vocabulary words (word2vec.c's ``train_words``)."""
        return int(self.counts.sum())

    def encode(self, tokens: Sequence[str], dtype: type = np.int32, drop_unknown: bool = True) -> np.ndarray:
        """Ids of ``tokens``; unknown words are dropped (or given -1 with ``drop_unknown=False``)."""
        get = self.index.get
        ids = np.fromiter(map(get, tokens, itertools.repeat(-1)), dtype=np.int64, count=len(tokens))
        if drop_unknown:
            ids = ids[ids >= 0]
        return ids.astype(dtype, copy=False)

    def encode_chunks(self, chunks: Iterable[Sequence[str]], dtype: type = np.int32) -> np.ndarray:
        """Concatenated ids of several token lists (unknown words dropped)."""
        parts = [self.encode(c, dtype=dtype) for c in chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    # ---- sampling laws -------------------------------------------------------------------------
    def keep_probs(self, t: float = 1e-4) -> torch.Tensor:
        """Probability of keeping each occurrence under word2vec.c's subsampling with threshold ``t``.

        ``p_keep(w) = min(1, (sqrt(f/t) + 1) * t/f)`` with ``f = count(w) / train_words``
        (word2vec.c's formula; the paper's text writes ``1 - sqrt(t/f)`` for the discard rate).
        ``t = 0`` keeps everything. Float64 on the CPU.
        """
        if t < 0:
            raise UserError(f"subsampling threshold must be >= 0 (got {t}); use 0 to keep every word")
        counts = torch.as_tensor(self.counts, dtype=torch.float64)
        if t == 0:
            return torch.ones_like(counts)
        f = counts / counts.sum()
        return ((f / t).sqrt() + 1.0).mul(t / f).clamp(max=1.0)

    def negative_probs(self, power: float = 0.75) -> torch.Tensor:
        """Negative-sampling distribution ``count^power`` normalized (float64, CPU)."""
        weights = torch.as_tensor(self.counts, dtype=torch.float64).pow(power)
        return weights / weights.sum()

    def negative_sampler(self, power: float = 0.75, device: str | torch.device = "cpu") -> NegativeSampler:
        return NegativeSampler(self.negative_probs(power), device=device)

    # ---- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"words": self.words, "counts": self.counts.tolist(), "corpus_tokens": int(self.corpus_tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        return cls(list(data["words"]), np.asarray(data["counts"], dtype=np.int64), int(data["corpus_tokens"]))

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically)."""
        from infwidth.runs import atomic_write_bytes

        path = Path(path)
        atomic_write_bytes(path, json.dumps(self.to_dict()).encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"cannot read vocabulary {path} ({exc}); pass a file written by Vocab.save") from None


class NegativeSampler:
    """Draw ids from a fixed distribution in O(1) each (Walker's alias method), on any device.

    Exact for the float64 ``probs`` up to the float64 rounding of the alias table, unlike
    word2vec.c's 1e8-entry unigram table, and reproducible with a ``torch.Generator``.
    """

    def __init__(self, probs: torch.Tensor, device: str | torch.device = "cpu") -> None:
        p = np.asarray(torch.as_tensor(probs, dtype=torch.float64).cpu().numpy(), dtype=np.float64)
        if p.ndim != 1 or len(p) == 0 or (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
            raise ValueError("probs must be a non-empty 1-d tensor of non-negative finite weights")
        n = len(p)
        scaled = p * (n / p.sum())
        prob = np.ones(n)
        alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        # leftovers (rounding) keep prob 1 and alias to themselves
        self.device = torch.device(device)
        self.prob = torch.as_tensor(prob, dtype=torch.float64, device=self.device)
        self.alias = torch.as_tensor(alias, dtype=torch.int64, device=self.device)
        self.size = n

    def sample(self, shape: int | tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """Int64 ids of the given shape on the sampler's device."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        col = torch.randint(self.size, shape, generator=generator, device=self.device)
        u = torch.rand(shape, generator=generator, device=self.device, dtype=torch.float64)
        return torch.where(u < self.prob[col], col, self.alias[col])

    def probs(self) -> torch.Tensor:
        """The distribution the table encodes (float64), to check the table against its input."""
        out = self.prob.clone() / self.size
        out.index_add_(0, self.alias, (1.0 - self.prob) / self.size)
        return out


def load_corpus(
    source: str | Path,
    *,
    max_chars: int | None = None,
    min_count: int = 5,
    max_size: int | None = None,
    dtype: type = np.int32,
) -> tuple[Vocab, np.ndarray]:
    """Read ``source`` once (see :mod:`.corpus`), build the vocabulary and encode the corpus.

    Returns ``(vocab, ids)`` with unknown words dropped. Memory: the normalized text is held
    once (about 1 byte per character) plus 4 bytes per token for the ids.
    """
    from infwidth.experiments.word2vec.corpus import normalized_chunks

    chunks = list(normalized_chunks(source, max_chars))
    counter: Counter[str] = Counter()
    for chunk in chunks:
        counter.update(chunk.split())
    vocab = Vocab.from_counts(counter, min_count=min_count, max_size=max_size)
    ids = [vocab.encode(chunk.split(), dtype=dtype) for chunk in chunks]
    return vocab, np.concatenate(ids)
