"""Unit of work: train and evaluate ONE Word2Vec model (CBOW; muP width, the muP limit, or the kernel regime).

The config is the experiment's own :class:`infwidth.experiments.word2vec.config.TrainConfig`, nested as
``train`` (a sweep sets ``"train.lr"``, ``"train.epochs"``, ... with dotted axes), plus ``model``, the one
model spec this point trains (``limit``, ``mup:N``, ``ntk``, ``ntk:N``; it replaces ``train.models``).
The corpus is read from where ``train.corpus`` says (``"data"``: the data directory ``data`` or
``$INFWIDTH_DATA``; ``"sample"``: the shipped sample; else a path) and cached per process, so a sweep
over models, widths or rates reads it once per worker. The point's vectors go to a temporary directory
and are dropped: the result is the experiment's JSON record (loss, analogy accuracy, ...).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

from infwidth.errors import UserError
from infwidth.experiments.word2vec.config import TrainConfig


@dataclass(frozen=True)
class Word2VecPoint:
    """``model``: the model spec to train; ``train``: the run's settings (its ``models`` is set to ``(model,)``).

    ``data``: the data directory when ``train.corpus == "data"`` (None: ``$INFWIDTH_DATA``);
    ``questions``: an analogy questions file (None: the one matching the corpus).
    """

    model: str = "mup:64"
    train: TrainConfig = field(default_factory=TrainConfig)  # the paper's settings (a mapping starts from them too)
    data: str | None = None
    questions: str | None = None
    device: str = "auto"
    threads: int | None = 1


@functools.lru_cache(maxsize=2)
def _corpus(corpus: str, max_chars: int | None, min_count: int, vocab_cap: int | None, subsample: float,
            data: str | None) -> Any:
    from infwidth.experiments.word2vec.train import prepare_data

    cfg = TrainConfig(corpus=corpus, max_chars=max_chars, min_count=min_count, vocab_cap=vocab_cap, subsample=subsample)
    return prepare_data(cfg, data)


def point_config(point: Word2VecPoint) -> TrainConfig:
    """``point.train`` training ``point.model`` alone, validated (one-line errors)."""
    from infwidth.experiments.word2vec.config import validate

    if not isinstance(point.model, str) or not point.model:
        raise UserError(f"`model` must be one model spec such as 'mup:64', 'limit' or 'ntk', got {point.model!r}")
    if point.train.models not in (TrainConfig().models, (point.model,)):
        raise UserError("set the model to train with `model`, not `train.models` (a point trains one model)")
    cfg = replace(point.train, models=(point.model,))
    validate(cfg)
    return cfg


def train_word2vec(point: Word2VecPoint) -> dict[str, Any]:
    """Train ``point.model`` on the corpus of ``point.train``; its record plus ``analogy_accuracy`` and ``analogy_error``."""
    import tempfile
    from pathlib import Path

    from infwidth.device import resolve_device, torch_threads
    from infwidth.experiments.word2vec.config import check_memory
    from infwidth.experiments.word2vec.train import (
        check_storage,
        questions_source,
        storage_dtype,
        train_one_model,
    )

    cfg = point_config(point)
    device = resolve_device(point.device)
    check_storage(storage_dtype(cfg), device)  # as `word2vec train` does: one line, before the corpus is read
    data = _corpus(cfg.corpus, cfg.max_chars, cfg.min_count, cfg.vocab_cap, cfg.subsample, point.data)
    questions = point.questions if point.questions is not None else questions_source(cfg, point.data)
    need = check_memory(cfg.models, data.vocab_size, data.counts, None, cfg.storage_bytes)
    with tempfile.TemporaryDirectory(prefix="infwidth-w2v-") as tmp, torch_threads(point.threads):
        stats = train_one_model(cfg, point.model, data, Path(tmp), questions, device=device,
                                approx_bytes=need[point.model], checkpoint_seconds=float("inf"), log=lambda *_: None)
    accuracy = stats.get("analogy", {}).get("accuracy")
    return {**stats, "analogy_accuracy": accuracy, "analogy_error": None if accuracy is None else 1.0 - accuracy}
