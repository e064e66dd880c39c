"""Word2Vec training configs (the paper's settings, a small default, a tiny tour run) and memory checks.

The paper's settings (Tensor Programs IV's Word2Vec experiment): CBOW, window 8 with random shrink, 25 negatives from
unigram^0.75, subsampling 1e-4, rate 0.05 decaying linearly to 1e-4 of it, weight decay 0.001 on
touched rows, 15 epochs, min-count 5. Memory is estimated before anything is allocated; a model
that does not fit is refused with the vocabulary cap or min-count that would fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from infwidth.errors import UserError
from infwidth.experiments.word2vec.models import model_width, parse_model_spec

GB = 1e9
# Working memory beside the matrices: chunked temporaries of one step (models.CHUNK_FLOATS) and
# the corpus ids; measured peak RSS minus matrices stays below this on the benchmark runs.
OVERHEAD_BYTES = 600e6


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run's numbers (the seed included)."""

    models: tuple[str, ...] = ("limit", "mup:256", "mup:64", "ntk:256")
    corpus: str = "data"  # "data" (the data directory's text), "sample", or a path
    max_chars: int | None = 100_000_000  # prefix of the normalized stream (text8 = first 1e8 chars)
    min_count: int = 5
    vocab_cap: int | None = None
    epochs: int = 15
    window: int = 8
    negatives: int = 25
    subsample: float = 1e-4
    lr: float = 0.05
    min_lr_fraction: float = 1e-4
    weight_decay: float = 0.001
    batch_size: int = 1024
    sentence_length: int = 1000
    seed: int = 0
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)
    # Stored matrices: "float32" (as dtype) or "bfloat16" (half the memory; float32 arithmetic,
    # stochastic rounding of stored values). Listed last and left out of run.json at its default
    # so that runs recorded before it existed still resume.
    storage: str = "float32"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["models"] = list(self.models)
        if d["storage"] == "float32":
            del d["storage"]
        return d

    @property
    def storage_bytes(self) -> int:
        """Bytes per stored number."""
        return 2 if self.storage == "bfloat16" else (8 if self.dtype == "float64" else 4)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["models"] = tuple(d["models"])
        return cls(**d)

    def with_(self, **changes) -> TrainConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, TrainConfig] = {
    # The paper's text8 run, on the text8-like prefix of the staged Wikipedia text.
    "paper-text8": TrainConfig(models=("limit", "mup:1024", "mup:256", "mup:64", "ntk")),
    # The small default: trains in minutes and still orders limit >= wide >= narrow >> NTK
    # (see docs/word2vec.md for how the prefix, vocabulary and epochs were chosen).
    "small": TrainConfig(
        models=("mup:64", "mup:256", "ntk:256", "limit"),
        max_chars=40_000_000,
        vocab_cap=3000,
        epochs=2,
        batch_size=256,
    ),
    # The tour: the shipped sample, seconds per model. It shows the mechanics, not the paper's numbers.
    "tiny": TrainConfig(
        models=("ntk", "mup:64", "limit"),
        corpus="sample",
        max_chars=4_000_000,
        vocab_cap=2000,
        epochs=1,
        batch_size=128,
    ),
}


def validate(cfg: TrainConfig) -> None:
    """Refuse impossible settings with a one-line message."""
    if not cfg.models:
        raise UserError("no models to train; pass `models`, e.g. limit,mup:256,ntk")
    for spec in cfg.models:
        parse_model_spec(spec)
    if len(set(cfg.models)) != len(cfg.models):
        raise UserError(f"`models` lists a model twice ({','.join(cfg.models)}); list each once")
    checks = [
        (cfg.epochs >= 1, f"`epochs` must be >= 1 (got {cfg.epochs})"),
        (cfg.window >= 1, f"`window` must be >= 1 (got {cfg.window})"),
        (cfg.negatives >= 0, f"`negatives` must be >= 0 (got {cfg.negatives})"),
        (cfg.batch_size >= 1, f"`batch_size` must be >= 1 (got {cfg.batch_size})"),
        (cfg.min_count >= 1, f"`min_count` must be >= 1 (got {cfg.min_count})"),
        (cfg.seed >= 0, f"`seed` must be >= 0 (got {cfg.seed})"),
        (cfg.lr > 0 and math.isfinite(cfg.lr), f"`lr` must be a positive number (got {cfg.lr})"),
        (cfg.subsample >= 0, f"`subsample` must be >= 0 (got {cfg.subsample}); 0 turns it off"),
        (cfg.weight_decay >= 0, f"`weight_decay` must be >= 0 (got {cfg.weight_decay})"),
        (cfg.vocab_cap is None or cfg.vocab_cap >= 2, f"`vocab_cap` must be >= 2 (got {cfg.vocab_cap})"),
        (cfg.max_chars is None or cfg.max_chars > 0, f"`max_chars` must be positive (got {cfg.max_chars})"),
        (cfg.sentence_length >= 2, "sentence_length must be >= 2"),
        (cfg.dtype in ("float32", "float64"), f"dtype must be float32 or float64 (got {cfg.dtype})"),
        (cfg.storage in ("float32", "bfloat16"), f"`storage` must be float32 or bfloat16 (got {cfg.storage})"),
        (cfg.storage == "float32" or cfg.dtype == "float32",
         f"`storage` bfloat16 computes in float32, not {cfg.dtype}; use dtype float32 or storage float32"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def model_bytes(spec: str, vocab_size: int, dtype_bytes: int = 4) -> float:
    """Peak bytes of ``spec``: the two V x n matrices (embeddings, output vectors) of ``dtype_bytes``
    numbers (2 for bfloat16 storage) plus working memory. The output vectors are freed before the
    embeddings are copied out (in the storage dtype) for evaluation, so training is the peak."""
    width = model_width(spec, vocab_size)
    return 2.0 * vocab_size * width * dtype_bytes + OVERHEAD_BYTES


def total_ram_bytes() -> float:
    """Physical memory of this machine (0 when unknown): :func:`infwidth.device.memory_bytes` on the CPU."""
    from infwidth.device import memory_bytes

    return memory_bytes("cpu")


def parse_bytes(text: str) -> float:
    """``"8GB"``, ``"512MB"``, ``"8e9"`` -> bytes."""
    s = text.strip().upper().replace(" ", "")
    units = {"TB": 1e12, "GB": 1e9, "MB": 1e6, "KB": 1e3, "G": 1e9, "M": 1e6, "K": 1e3, "B": 1.0}
    for unit, factor in units.items():
        if s.endswith(unit):
            s, mult = s[: -len(unit)], factor
            break
    else:
        mult = 1.0
    try:
        value = float(s) * mult
    except ValueError:
        raise UserError(f"`memory_limit` {text!r} is not a size; write e.g. 8GB or 512MB") from None
    if not (value > 0 and math.isfinite(value)):
        raise UserError(f"`memory_limit` must be positive (got {text!r}); write e.g. 8GB")
    return value


def largest_vocab_fitting(spec: str, limit_bytes: float, dtype_bytes: int = 4) -> int:
    """The largest vocabulary size whose ``spec`` model fits in ``limit_bytes`` (0 if none)."""
    budget = (limit_bytes - OVERHEAD_BYTES) / (2.0 * dtype_bytes)
    if budget <= 0:
        return 0
    _, width = parse_model_spec(spec)
    return int(math.isqrt(int(budget))) if width is None else int(budget // width)


def check_memory(
    models: Sequence[str],
    vocab_size: int,
    counts: Sequence[int] | None,
    limit_bytes: float | None = None,
    dtype_bytes: int = 4,
) -> dict[str, float]:
    """Estimate each model's peak memory; refuse (UserError) if one exceeds the limit.

    ``counts`` are the vocabulary's word counts, most frequent first, so the message can name the
    min-count that would fit as well as the vocabulary cap. Models train one at a time, so the
    largest one decides. Returns {spec: estimated bytes}.
    """
    limit = limit_bytes if limit_bytes else total_ram_bytes()
    need = {spec: model_bytes(spec, vocab_size, dtype_bytes) for spec in models}
    if not limit:
        return need
    worst = max(need, key=need.get)
    if need[worst] <= limit:
        return need
    cap = largest_vocab_fitting(worst, limit, dtype_bytes)
    what = "the muP limit" if worst == "limit" else ("the NTK limit" if worst == "ntk" else worst)
    if cap < 2:
        raise UserError(
            f"{what} needs {need[worst] / GB:.1f} GB even for a tiny vocabulary but the memory limit is "
            f"{limit / GB:.1f} GB; raise `memory_limit` or use a smaller width"
        )
    hint = f"`vocab_cap={cap}`"
    if counts is not None and len(counts) > cap:
        hint += f" or `min_count={int(counts[cap]) + 1}`"
    if dtype_bytes > 2 and model_bytes(worst, vocab_size, 2) <= limit:
        hint = f"`storage='bfloat16'` (half the memory: {model_bytes(worst, vocab_size, 2) / GB:.1f} GB), or {hint}"
    raise UserError(
        f"{what} at V={vocab_size:,} needs about {need[worst] / GB:.1f} GB but the memory limit is "
        f"{limit / GB:.1f} GB; pass {hint} (or raise `memory_limit`)"
    )
