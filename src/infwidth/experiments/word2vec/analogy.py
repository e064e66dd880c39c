"""Google word-analogy evaluation: 3CosAdd over L2-normalized vectors and the whole vocabulary.

For ``a : b :: c : d`` the prediction is ``argmax_w cos(w, b^ - a^ + c^)`` over every word except
``a``, ``b``, ``c`` (``x^`` = ``x/|x|``); questions with a word outside the vocabulary are skipped
and counted. Sections 1-5 of the file are "semantic", the rest "syntactic" (as the paper reports).
Vectorized in torch over chunks of questions, on any device.
"""

from __future__ import annotations

import lzma
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.datasets import package_data
from infwidth.errors import UserError

SEMANTIC_SECTIONS = 5
Question = tuple[str, str, str, str]


@dataclass
class Analogies:
    """Questions by section (file order), plus the malformed lines that were skipped."""

    sections: list[tuple[str, list[Question]]]
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)  # first few 1-based line numbers

    @property
    def n_questions(self) -> int:
        return sum(len(q) for _, q in self.sections)

    def coverage(self, vocab: Container[str]) -> int:
        """Questions whose four words are all in ``vocab``."""
        return sum(all(w in vocab for w in q) for _, qs in self.sections for q in qs)


def analogy_path(data: str | Path | None = None) -> Path:
    """``questions-words.txt`` in the data directory, or the shipped copy for ``None``/``"sample"``."""
    if data is None or str(data) == "sample":
        return package_data("word2vec", "questions-words.txt.xz")
    return Path(data) / "analogy" / "questions-words.txt"


def load_analogies(path: str | Path | None = None, *, lowercase: bool = True) -> Analogies:
    """Parse a questions file (``: section`` headers, 4 words a line; ``.xz`` allowed).

    Lines that are neither blank, a header, nor four words are skipped and counted; questions
    before the first header go to a section named ``unsectioned``.
    """
    path = analogy_path(path) if path is None or str(path) == "sample" else Path(path)
    try:
        opener = lzma.open if path.suffix == ".xz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise UserError(f"analogy file {path} does not exist; pass the questions-words.txt path") from None
    except (OSError, lzma.LZMAError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read analogy file {path} ({exc}); pass a UTF-8 questions-words.txt") from None
    sections: list[tuple[str, list[Question]]] = []
    bad: list[int] = []
    n_bad = 0
    for lineno, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == ":" or parts[0].startswith(":"):
            name = " ".join(parts)[1:].strip()
            if name:
                sections.append((name, []))
                continue
        elif len(parts) == 4:
            if not sections:
                sections.append(("unsectioned", []))
            q = tuple(p.lower() for p in parts) if lowercase else tuple(parts)
            sections[-1][1].append(q)  # type: ignore[arg-type]
            continue
        n_bad += 1
        if len(bad) < 10:
            bad.append(lineno)
    result = Analogies([(n, q) for n, q in sections if q], n_bad, bad)
    if result.n_questions == 0:
        raise UserError(f"analogy file {path} holds no questions (4 words a line); pass questions-words.txt")
    return result


def _score(correct: int, evaluated: int, skipped: int) -> dict[str, Any]:
    return {
        "correct": correct,
        "evaluated": evaluated,
        "skipped": skipped,
        "accuracy": correct / evaluated if evaluated else 0.0,
    }


def evaluate_analogies(
    embeddings: torch.Tensor | np.ndarray,
    vocab: Sequence[str] | Any,
    analogies: Analogies,
    *,
    restrict: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_size: int | None = None,
    method: str = "auto",
) -> dict[str, Any]:
    """3CosAdd accuracy per section, total, semantic and syntactic.

    ``embeddings`` is ``(V, n)`` with row ``i`` the vector of ``vocab.words[i]`` (or ``vocab[i]``
    for a plain word list). ``restrict=k`` searches and admits only the ``k`` most frequent words
    (word2vec's ``compute-accuracy`` uses 30000); the default is the whole vocabulary. Returns
    ``{"sections": {name: score}, "total", "semantic", "syntactic", "questions", "malformed"}``
    where a score is ``{"correct", "evaluated", "skipped", "accuracy"}`` (accuracy in [0, 1]).

    ``method``: ``"direct"`` scores each question's target against all words (cost ~ questions x
    V x n); ``"shared"`` first computes the cosines of the ~900 distinct question words with all
    words and adds rows (cost ~ 900 x V x n + questions x V), far cheaper for wide embeddings such
    as the width-V limit; ``"auto"`` picks ``shared`` when n > 256.
    """
    words = list(getattr(vocab, "words", vocab))
    emb = torch.as_tensor(embeddings)
    if emb.ndim != 2 or emb.shape[0] != len(words):
        raise UserError(f"embeddings have shape {tuple(emb.shape)} but the vocabulary has {len(words)} words")
    if restrict is not None:
        if restrict < 1:
            raise UserError(f"restrict must be >= 1 (got {restrict}); omit it to search the whole vocabulary")
        words, emb = words[:restrict], emb[:restrict]
    dev = torch.device(device) if device is not None else emb.device
    # 16-bit embeddings (bfloat16 storage) of the wide limit stay 16-bit and are widened in row
    # chunks, so evaluating a V x V matrix never holds a second, float32 copy of it.
    half = emb.dtype in (torch.bfloat16, torch.float16) and emb.shape[1] > 256
    emb = emb.to(device=dev) if half else emb.to(device=dev, dtype=dtype)
    norms = torch.cat([emb[i : i + 4096].to(dtype).norm(dim=1) for i in range(0, emb.shape[0], 4096)]) \
        if emb.shape[0] else emb.new_zeros(0, dtype=dtype)
    if not torch.isfinite(norms).all():
        raise UserError("embeddings contain NaN or inf (training diverged?); lower the learning rate and retrain")
    index = {w: i for i, w in enumerate(words)}
    inv_norm = torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms))

    ids, sec_of = [], []
    skipped = []
    for s, (_, qs) in enumerate(analogies.sections):
        n_skip = 0
        for q in qs:
            if all(w in index for w in q):
                ids.append([index[w] for w in q])
                sec_of.append(s)
            else:
                n_skip += 1
        skipped.append(n_skip)
    correct_flags = torch.zeros(len(ids), dtype=torch.bool)
    if ids:
        correct_flags = _solve(emb, inv_norm, torch.tensor(ids, dtype=torch.int64), method, chunk_size)

    sec_tensor = torch.tensor(sec_of, dtype=torch.int64)
    result: dict[str, Any] = {"sections": {}}
    per = []
    for s, (name, _) in enumerate(analogies.sections):
        mask = sec_tensor == s
        score = _score(int(correct_flags[mask].sum()), int(mask.sum()), skipped[s])
        result["sections"][name] = score
        per.append(score)

    def total(scores: list[dict[str, Any]]) -> dict[str, Any]:
        return _score(*(sum(sc[k] for sc in scores) for k in ("correct", "evaluated", "skipped")))

    result["total"] = total(per)
    result["semantic"] = total(per[:SEMANTIC_SECTIONS])
    result["syntactic"] = total(per[SEMANTIC_SECTIONS:])
    result["questions"] = analogies.n_questions
    result["malformed"] = analogies.malformed
    return result


def _solve(
    emb: torch.Tensor, inv_norm: torch.Tensor, q_ids: torch.Tensor, method: str, chunk_size: int | None
) -> torch.Tensor:
    """Bool per question: is ``d`` the best cosine match of ``b^ - a^ + c^`` outside ``{a, b, c}``?"""
    if method not in ("auto", "direct", "shared"):
        raise UserError(f"unknown analogy method {method!r}; use auto, direct or shared")
    V, n = emb.shape
    dev = emb.device
    q_ids = q_ids.to(dev)
    if method == "auto":
        method = "shared" if n > 256 else "direct"
    step = chunk_size or max(1, min(4096, (1 << 26) // max(V, 1)))
    flags = []
    if method == "direct":
        unit = emb.to(inv_norm.dtype) * inv_norm.unsqueeze(1)
        for start in range(0, len(q_ids), step):
            q = q_ids[start : start + step]
            target = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]
            scores = target @ unit.T
            scores.scatter_(1, q[:, :3], float("-inf"))
            flags.append(scores.max(dim=1).indices == q[:, 3])
    else:
        used, local = torch.unique(q_ids[:, :3], return_inverse=True)  # local: (Q, 3) rows of `cos`
        cos = torch.empty(len(used), V, dtype=inv_norm.dtype, device=dev)
        cdtype = inv_norm.dtype
        for start in range(0, len(used), 256):
            rows = used[start : start + 256]
            a = emb[rows].to(cdtype) * inv_norm[rows].unsqueeze(1)
            if emb.dtype == cdtype:
                cos[start : start + 256] = a @ emb.T * inv_norm
            else:  # widen 4096 words at a time
                for j in range(0, V, 4096):
                    cos[start : start + 256, j : j + 4096] = a @ emb[j : j + 4096].to(cdtype).T * inv_norm[j : j + 4096]
        for start in range(0, len(q_ids), step):
            q, loc = q_ids[start : start + step], local[start : start + step]
            scores = cos[loc[:, 1]]
            scores.sub_(cos[loc[:, 0]]).add_(cos[loc[:, 2]])
            scores.scatter_(1, q[:, :3], float("-inf"))
            flags.append(scores.max(dim=1).indices == q[:, 3])
    return torch.cat(flags).cpu()


def format_table(result: dict[str, Any]) -> str:
    """A markdown table of a result of :func:`evaluate_analogies` (accuracy in percent)."""
    rows = ["| section | correct | evaluated | skipped | accuracy % |", "|---|---|---|---|---|"]
    items = list(result["sections"].items()) + [(k, result[k]) for k in ("semantic", "syntactic", "total")]
    for name, sc in items:
        label = f"**{name}**" if name in ("semantic", "syntactic", "total") else name
        rows.append(f"| {label} | {sc['correct']} | {sc['evaluated']} | {sc['skipped']} | {100 * sc['accuracy']:.2f} |")
    return "\n".join(rows)
