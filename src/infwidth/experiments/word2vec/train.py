"""Train CBOW models over a corpus in minibatches, with exact resume, progress and run records.

Read top to bottom: :func:`prepare_data` turns a corpus into word ids and the sampling tables;
:func:`epoch_stream` subsamples one epoch (seeded by (seed, epoch)); :func:`make_batch` cuts a
minibatch of consecutive target words with their shrunk windows and negatives (seeded by
(seed, epoch, batch)); :func:`train_model` runs the epochs with the linearly decaying rate and
checkpoints; :func:`run` trains every model of a config into an output directory and evaluates it.

Because every random draw is derived from (seed, epoch, batch), a checkpoint needs only the
parameters and the position to resume bit-for-bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.device import format_bytes, torch_threads
from infwidth.errors import Diverged, UserError
from infwidth.experiments.word2vec.config import TrainConfig, check_memory, validate
from infwidth.experiments.word2vec.models import (
    CBOWModel,
    build_model,
    cbow_update,
    initial_embeddings,
    model_width,
    parse_model_spec,
)
from infwidth.runs import atomic_torch_save, atomic_write_json

CHECKPOINT = "checkpoint.pt"
VECTORS = "vectors.pt"
RESULT = "result.json"


@dataclass
class CorpusData:
    """A corpus as word ids (out-of-vocabulary words dropped) with its sampling tables."""

    words: list[str]
    counts: np.ndarray  # (V,) most frequent first
    ids: np.ndarray  # (N,) int64 word ids in corpus order
    keep: np.ndarray  # (V,) probability of keeping a word when subsampling
    neg_cdf: np.ndarray  # (V,) cumulative unigram^0.75 distribution

    @property
    def vocab_size(self) -> int:
        return len(self.words)


def corpus_from_ids(
    words: list[str], ids: np.ndarray, *, subsample: float = 1e-4, power: float = 0.75
) -> CorpusData:
    """Sampling tables from word ids, with word2vec's formulas (used for synthetic corpora and tests)."""
    ids = np.asarray(ids, dtype=np.int64)
    counts = np.bincount(ids, minlength=len(words)).astype(np.float64)
    total = counts.sum()
    if subsample > 0:
        thr = subsample * total
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.where(counts > 0, (np.sqrt(counts / thr) + 1.0) * thr / counts, 1.0)
    else:
        keep = np.ones(len(words))
    probs = counts**power
    return CorpusData(list(words), counts.astype(np.int64), ids, np.minimum(keep, 1.0), _cdf(probs))


def _cdf(probs: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(np.asarray(probs, dtype=np.float64))
    return cdf / cdf[-1]


def corpus_source(cfg: TrainConfig, data: str | Path | None = None) -> str | Path:
    """Where the corpus text comes from: the data directory, the shipped sample, or a path."""
    if cfg.corpus == "data":
        from infwidth.datasets import data_root

        return data_root(data)
    return cfg.corpus


def questions_source(cfg: TrainConfig, data: str | Path | None = None) -> Path:
    """The analogy questions matching the corpus: the data directory's, else the shipped copy."""
    from infwidth.experiments.word2vec.analogy import analogy_path

    if cfg.corpus == "data":
        from infwidth.datasets import data_root

        return analogy_path(data_root(data))
    return analogy_path(None)


def prepare_data(cfg: TrainConfig, data: str | Path | None = None) -> CorpusData:
    """Read, normalize and encode the corpus of ``cfg``; build the vocabulary and sampling tables."""
    from infwidth.experiments.word2vec.vocab import load_corpus

    vocab, ids = load_corpus(
        corpus_source(cfg, data), max_chars=cfg.max_chars, min_count=cfg.min_count, max_size=cfg.vocab_cap
    )
    keep = vocab.keep_probs(cfg.subsample).numpy().astype(np.float64)
    neg = vocab.negative_probs(0.75).numpy().astype(np.float64)
    return CorpusData(list(vocab.words), np.asarray(vocab.counts, dtype=np.int64), ids.astype(np.int64), keep, _cdf(neg))


def epoch_stream(data: CorpusData, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The subsampled epoch: (kept word ids, their positions in the full stream)."""
    rng = np.random.default_rng([seed, epoch, 0])
    u = rng.random(len(data.ids))
    pos = np.flatnonzero(u < data.keep[data.ids])
    return data.ids[pos], pos


def make_batch(
    kept: np.ndarray, start: int, stop: int, cfg: TrainConfig, neg_cdf: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Targets ``kept[start:stop]`` with their contexts (window shrunk at random, not crossing a
    sentence of ``cfg.sentence_length`` kept words) and ``cfg.negatives`` negatives each."""
    w, L = cfg.window, cfg.sentence_length
    j = np.arange(start, stop)
    B = len(j)
    shrink = rng.integers(0, w, size=B)
    neg = np.searchsorted(neg_cdf, rng.random((B, cfg.negatives)), side="right")
    neg = np.minimum(neg, len(neg_cdf) - 1)
    offsets = np.concatenate([np.arange(-w, 0), np.arange(1, w + 1)])
    pos = j[:, None] + offsets[None, :]
    mask = (np.abs(offsets)[None, :] <= (w - shrink)[:, None]) & (pos >= 0) & (pos < len(kept))
    mask &= (pos // L) == (j // L)[:, None]
    ctx = np.where(mask, kept[np.clip(pos, 0, len(kept) - 1)], 0)
    return ctx, mask, kept[j], neg


def learning_rate(cfg: TrainConfig, words_done: int, total_words: int) -> float:
    """word2vec's schedule: linear decay over all epochs' words, floored at ``min_lr_fraction``."""
    frac = 1.0 - words_done / (total_words + 1)
    return cfg.lr * max(frac, cfg.min_lr_fraction)


def storage_dtype(cfg: TrainConfig) -> torch.dtype:
    """The stored matrices' dtype: ``cfg.storage`` (bfloat16), else the arithmetic dtype."""
    return torch.bfloat16 if cfg.storage == "bfloat16" else getattr(torch, cfg.dtype)


def check_storage(storage: torch.dtype, device: torch.device) -> None:
    """Refuse 16-bit storage on a device without bfloat16 support (one line, before anything is written)."""
    if storage != torch.bfloat16:
        return
    ok = True
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported(including_emulation=False)
    elif device.type != "cpu":
        try:
            (torch.ones(2, dtype=torch.bfloat16, device=device) * 2).sum().item()
        except (RuntimeError, TypeError):
            ok = False
    if not ok:
        raise UserError(f"device {device} cannot store bfloat16; use `storage='float32'` or another `device`")


class RunProgress:
    """One progress view for a whole run: words done of the run's total (every model's epochs),
    the current model ("model k/m"), and an ETA for the whole run from the words/s averaged over
    the last several minutes (an exponential average with a 5-minute time constant), so it does
    not swing with the machine's load. A tqdm bar on a terminal; off a terminal (output to a file)
    the bar is off and :meth:`summary` lines are logged per epoch instead of a flood of updates."""

    TAU = 300.0

    def __init__(self, total: int, enabled: bool = True, start: int = 0):
        from tqdm.auto import tqdm

        self.total, self.n = total, start
        self._rate, self._t, self._n = None, time.perf_counter(), start
        self._bar = tqdm(total=total, initial=start, unit="w", unit_scale=True, leave=False, smoothing=0,
                         mininterval=1.0, disable=None if enabled else True,
                         bar_format="{desc} {percentage:3.0f}% {n_fmt}/{total_fmt} words [{elapsed}{postfix}]")

    def set_model(self, text: str) -> None:
        self._bar.set_description_str(text, refresh=False)

    def moveto(self, n: int) -> None:
        now = time.perf_counter()
        dt = now - self._t
        if dt >= 2.0 or self._rate is None and dt >= 0.5:  # update the averaged rate every ~2 s
            rate = (n - self._n) / dt
            if rate >= 0:
                a = 1.0 if self._rate is None else 1.0 - math.exp(-dt / self.TAU)
                self._rate = rate if self._rate is None else (1 - a) * self._rate + a * rate
            self._t, self._n = now, n
        self._bar.update(n - self.n)
        self.n = n

    def jump(self, n: int) -> None:
        """Move to ``n`` without counting the words skipped as work done (a resumed position, a
        finished model skipped): they must not enter the words/s the ETA comes from."""
        self._bar.update(n - self.n)
        self.n = self._n = n
        self._t = time.perf_counter()

    def eta_seconds(self) -> float | None:
        return (self.total - self.n) / self._rate if self._rate else None

    def summary(self) -> str:
        eta = self.eta_seconds()
        left = "ETA for the run unknown" if eta is None else f"about {_hms(eta)} left for the run"
        return f"{self.n:,} of {self.total:,} words ({100 * self.n / max(self.total, 1):.1f}%), {left}"

    def postfix(self, text: str) -> None:
        eta = self.eta_seconds()
        self._bar.set_postfix_str(f"{text}, run ETA {'?' if eta is None else _hms(eta)}", refresh=False)

    def close(self) -> None:
        self._bar.close()


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def train_model(
    model: CBOWModel,
    data: CorpusData,
    cfg: TrainConfig,
    *,
    ckpt_path: Path | None = None,
    state: dict | None = None,
    checkpoint_seconds: float = 300.0,
    checkpoint_every_batches: int | None = None,
    on_batch: Callable[[], None] | None = None,
    progress: bool = True,
    desc: str = "",
    bar: Any = None,
    log=None,
    kernel: bool | None = None,
) -> dict:
    """Train ``model`` for ``cfg.epochs`` epochs; returns stats (loss, updates, words/s).

    ``state`` is a loaded checkpoint to resume from. Checkpoints go to ``ckpt_path`` after every
    epoch, every ``checkpoint_seconds`` and every ``checkpoint_every_batches``. ``on_batch()`` is
    called after each batch, before its checkpoint (e.g. to report to a scheduler, or to stop).
    ``bar`` is a run-wide progress view (:class:`RunProgress`) to advance instead of a bar of its
    own; ``log`` gets one line per finished epoch.
    """
    device = model.device
    N = len(data.ids)
    total_words = cfg.epochs * N
    pos_state = {"epoch": 0, "batch": 0, "loss_sum": 0.0, "targets": 0, "seconds": 0.0}
    if state is not None:
        pos_state.update({k: state[k] for k in pos_state})
    done_batches = 0
    t_start = time.perf_counter()
    t_ckpt = t_start
    seconds0 = pos_state["seconds"]

    def checkpoint(epoch: int, batch: int) -> None:
        if ckpt_path is None:
            return
        pos_state.update(epoch=epoch, batch=batch, seconds=seconds0 + time.perf_counter() - t_start)
        atomic_torch_save({"model": model.state(), **pos_state}, ckpt_path)

    own_bar = bar is None
    if own_bar:
        bar = RunProgress(total_words, progress)
    base = bar.n  # the run's words before this model
    start_epoch = pos_state["epoch"]
    window_loss, window_n = 0.0, 0
    for epoch in range(start_epoch, cfg.epochs):
        kept, kept_pos = epoch_stream(data, cfg.seed, epoch)
        n_batches = (len(kept) + cfg.batch_size - 1) // cfg.batch_size
        first = pos_state["batch"] if epoch == start_epoch else 0
        bar.jump(base + epoch * N + (int(kept_pos[first * cfg.batch_size]) if first < n_batches else N))
        for b in range(first, n_batches):
            lo, hi = b * cfg.batch_size, min(len(kept), (b + 1) * cfg.batch_size)
            words_done = epoch * N + int(kept_pos[lo])
            lr = learning_rate(cfg, words_done, total_words)
            rng = np.random.default_rng([cfg.seed, epoch, 1, b])
            ctx, mask, tgt, neg = make_batch(kept, lo, hi, cfg, data.neg_cdf, rng)
            loss, used = cbow_update(
                model,
                torch.from_numpy(ctx).to(device),
                torch.from_numpy(mask).to(device),
                torch.from_numpy(tgt).to(device),
                torch.from_numpy(neg).to(device),
                lr,
                cfg.weight_decay,
                rounding_seed=int(rng.integers(0, 2**63)),
                kernel=kernel,
            )
            if not math.isfinite(loss):
                raise Diverged(f"the loss of {desc}", f"epoch {epoch + 1}, batch {b + 1}", "lower the learning rate `lr` and train again")
            pos_state["loss_sum"] += loss
            pos_state["targets"] += used
            window_loss += loss
            window_n += used
            done_batches += 1
            next_words = epoch * N + (int(kept_pos[hi]) if hi < len(kept) else N)
            bar.moveto(base + next_words)
            if window_n >= 20000 or b == n_batches - 1:
                bar.postfix(f"{desc} loss {window_loss / max(window_n, 1):.3f} lr {lr:.4f}")
                window_loss, window_n = 0.0, 0
            if on_batch is not None:
                try:
                    on_batch()
                except BaseException:
                    bar.close()
                    raise
            now = time.perf_counter()
            if b + 1 < n_batches and (
                now - t_ckpt >= checkpoint_seconds
                or (checkpoint_every_batches and done_batches % checkpoint_every_batches == 0)
            ):
                checkpoint(epoch, b + 1)
                t_ckpt = time.perf_counter()
        checkpoint(epoch + 1, 0)
        t_ckpt = time.perf_counter()
        if log is not None:
            log(f"{desc}: epoch {epoch + 1}/{cfg.epochs} done; {bar.summary()}")
    if own_bar:
        bar.close()
    seconds = seconds0 + time.perf_counter() - t_start
    return {
        "loss": pos_state["loss_sum"] / max(pos_state["targets"], 1),
        "updates": pos_state["targets"],
        "words": total_words,
        "train_seconds": seconds,
        "words_per_second": total_words / seconds if seconds > 0 else float("nan"),
    }


def _percent(acc: float | None) -> str:
    return "n/a" if acc is None else f"{100 * acc:.2f}%"


def _tty() -> bool:
    import sys

    return sys.stderr.isatty()


def model_dir_name(spec: str) -> str:
    return spec.replace(":", "-")


def embedding_movement(emb: torch.Tensor, spec: str, seed: int) -> float:
    """||E_T - E_0||_F / ||E_0||_F: how far the embeddings (the learned features) moved.
    For identity starts it is computed without allocating a second V x V matrix."""
    _, width = parse_model_spec(spec)
    if width is None:  # E_0 = I: ||E - I||^2 = ||E||^2 - 2 tr(E) + V, summed in row chunks
        V = emb.shape[0]
        sq = sum(float(emb[i : i + 1024].double().pow(2).sum()) for i in range(0, V, 1024))
        sq += -2 * float(emb.diagonal().double().sum()) + V
        return max(sq, 0.0) ** 0.5 / V**0.5
    dt = emb.dtype if emb.dtype in (torch.float32, torch.float64) else torch.float32  # bf16: drawn in float32
    e0 = initial_embeddings(spec, emb.shape[0], seed=seed, dtype=dt).to(emb.device)
    return float(torch.linalg.norm(emb.to(dt) - e0) / torch.linalg.norm(e0))


def evaluate_embeddings(emb: torch.Tensor, words: list[str], questions: Any) -> dict:
    """Analogy accuracy (3CosAdd) of ``emb``; ``questions`` is a questions file or an ``Analogies``.
    Adds ``accuracy`` = the total accuracy."""
    from infwidth.experiments.word2vec.analogy import Analogies, evaluate_analogies, load_analogies

    if not isinstance(questions, Analogies):
        questions = load_analogies(questions)
    res = evaluate_analogies(emb, words, questions)
    res["accuracy"] = res["total"]["accuracy"]
    return res


def _load_result(path: Path) -> dict | None:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ``step`` of :func:`run` -> ``kernel`` of :func:`~.models.cbow_update`
STEPS = {"auto": None, "kernel": True, "torch": False}


def run(
    cfg: TrainConfig,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    questions: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    memory_limit: float | None = None,
    device: str = "auto",
    progress: bool = True,
    checkpoint_seconds: float = 300.0,
    checkpoint_every_batches: int | None = None,
    on_batch: Callable[[], None] | None = None,
    corpus: CorpusData | None = None,
    threads: int | None = 1,
    step: str = "auto",
    log=print,
) -> dict:
    """Train and evaluate every model of ``cfg`` into ``out``; returns {spec: result}.

    ``out/run.json`` records config, versions and (at the end) results; each model has its own
    folder with a checkpoint, its final vectors (``vectors.pt``) and ``result.json``. A finished
    model is not retrained on ``resume``. A loop over :func:`train_one_model` (the unit of work).

    ``step``: ``auto`` (the fused CPU kernel where it was measured faster, else the torch step),
    ``kernel`` (the fused CPU kernel; CPU only) or ``torch`` (the torch step, the one that runs on
    GPUs). They compute the same update up to the order of float sums, so switching it on a resume
    continues the run correctly but not bit for bit.
    """
    validate(cfg)
    if step not in STEPS:
        raise UserError(f"unknown `step` {step!r}; choose from {', '.join(STEPS)}")
    with torch_threads(threads or None):  # small sparse ops: one thread beats two contended ones
        return _run(cfg, Path(out), data_dir, questions, resume, overwrite, memory_limit, device, progress,
                    checkpoint_seconds, checkpoint_every_batches, on_batch, corpus, log, STEPS[step])


def _run(cfg, out, data_dir, questions, resume, overwrite, memory_limit, device, progress,
         checkpoint_seconds, checkpoint_every_batches, on_batch, corpus, log, kernel) -> dict:
    from infwidth.device import resolve_device
    from infwidth.runs import RUN_FILE, check_out_dir, prepare_out_dir, write_run_record

    config = cfg.to_dict()
    resuming = False
    check_out_dir(out)
    dev = resolve_device(device)  # an unavailable device fails before anything is read or written
    check_storage(storage_dtype(cfg), dev)
    if kernel and torch.device(dev).type != "cpu":
        raise UserError(f"`step` kernel is the fused CPU step and the models would be on {dev}; "
                        "use `step` auto or torch")
    if (out / RUN_FILE).exists():  # refuse a foreign run before the (slow) corpus read
        out, resuming = prepare_out_dir(out, config, resume=resume, overwrite=overwrite)
    elif resume:
        prepare_out_dir(out, config, resume=True)
    if corpus is None:
        chars = "all" if cfg.max_chars is None else f"the first {cfg.max_chars:,}"
        log(f"reading the corpus ({chars} characters of {cfg.corpus}, min-count {cfg.min_count}); "
            "this takes about a minute per 1e8 characters")
    data = corpus if corpus is not None else prepare_data(cfg, data_dir)
    if questions is None:
        questions = questions_source(cfg, data_dir)
    log(f"corpus: {len(data.ids):,} tokens in vocabulary, V = {data.vocab_size:,}")
    need = check_memory(cfg.models, data.vocab_size, data.counts, memory_limit, cfg.storage_bytes)
    if not (out / RUN_FILE).exists():
        out, resuming = prepare_out_dir(out, config, resume=resume, overwrite=overwrite)
    results: dict[str, dict] = {}
    per_model = cfg.epochs * len(data.ids)
    bar = RunProgress(per_model * len(cfg.models), progress)
    for k, spec in enumerate(cfg.models):
        bar.jump(k * per_model)
        bar.set_model(f"model {k + 1}/{len(cfg.models)} {spec}")
        results[spec] = train_one_model(
            cfg, spec, data, out / model_dir_name(spec), questions, device=dev, resume=resuming,
            approx_bytes=need[spec], progress=progress, checkpoint_seconds=checkpoint_seconds,
            checkpoint_every_batches=checkpoint_every_batches, on_batch=on_batch, log=log,
            bar=bar, desc=f"model {k + 1}/{len(cfg.models)} {spec}", kernel=kernel,
        )
    bar.close()
    write_run_record(out, config, results={"models": results, "vocab_size": data.vocab_size,
                                           "tokens": len(data.ids)})
    return results


def train_one_model(
    cfg: TrainConfig,
    spec: str,
    data: CorpusData,
    mdir: Path,
    questions: Any,
    *,
    device: torch.device | str = "cpu",
    resume: bool = False,
    approx_bytes: float | None = None,
    progress: bool = False,
    checkpoint_seconds: float = 300.0,
    checkpoint_every_batches: int | None = None,
    on_batch: Callable[[], None] | None = None,
    log=print,
    bar: Any = None,
    desc: str | None = None,
    kernel: bool | None = None,
) -> dict:
    """The unit of work: train and evaluate ONE model ``spec`` of ``cfg`` into ``mdir``; its JSON-ready result.

    ``mdir`` gets the checkpoint (resumable with ``resume``), the final vectors and ``result.json``;
    a model already finished there is not retrained on ``resume``. ``cfg`` is a frozen, picklable
    :class:`TrainConfig`; ``data`` its corpus (:func:`prepare_data`). ``bar``: a run-wide
    :class:`RunProgress` to advance (``desc`` names the model in it). ``kernel``: as in
    :func:`~.models.cbow_update` (``None``: where measured faster).
    """
    mdir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in (CHECKPOINT, VECTORS, RESULT):
            (mdir / name).unlink(missing_ok=True)  # left by the run --overwrite replaces
    done = _load_result(mdir / RESULT) if resume else None
    if done is not None and (mdir / VECTORS).exists():
        log(f"{spec}: finished earlier, analogy accuracy {_percent(done.get('analogy', {}).get('accuracy'))}")
        return done
    state = None
    dtype = getattr(torch, cfg.dtype)
    if resume and (mdir / CHECKPOINT).exists():
        from infwidth.runs import load_torch

        state = load_torch(mdir / CHECKPOINT, f"delete it to retrain {spec} from the start, or pass `overwrite=True`",
                           map_location=device, keys=("model", "epoch", "batch"))
        model = CBOWModel.from_state(state["model"])
        log(f"{spec}: resuming at epoch {state['epoch']}, batch {state['batch']}")
    else:
        width = model_width(spec, data.vocab_size)
        mats = 2.0 * data.vocab_size * width * storage_dtype(cfg).itemsize
        size = f", the two matrices {format_bytes(mats)}"
        if approx_bytes is not None:
            size += f" (peak about {format_bytes(approx_bytes)} with the process's fixed working memory)"
        log(f"{spec}: width {width:,}{size}")
        model = build_model(spec, data.vocab_size, seed=cfg.seed, device=device, dtype=dtype,
                            storage=storage_dtype(cfg))
    stats = train_model(
        model,
        data,
        cfg,
        ckpt_path=mdir / CHECKPOINT,
        state=state,
        checkpoint_seconds=checkpoint_seconds,
        checkpoint_every_batches=checkpoint_every_batches,
        on_batch=on_batch,
        progress=progress,
        desc=desc or spec,
        bar=bar,
        log=None if progress and _tty() else log,
        kernel=kernel,
    )
    model.free_outputs()  # free the output vectors: peak memory stays two matrices
    emb = model.embeddings(storage_dtype(cfg))  # 16-bit storage stays 16-bit (evaluation widens it in chunks)
    del model
    stats["embedding_movement"] = embedding_movement(emb, spec, cfg.seed)
    atomic_torch_save({"words": data.words, "emb": emb.cpu(), "spec": spec}, mdir / VECTORS)
    stats["analogy"] = evaluate_embeddings(emb, data.words, questions)
    stats["vocab_size"] = data.vocab_size
    stats["width"] = emb.shape[1]
    atomic_write_json(mdir / RESULT, stats)
    (mdir / CHECKPOINT).unlink(missing_ok=True)
    acc = stats["analogy"].get("accuracy")
    log(f"{spec}: loss {stats['loss']:.4f}, {stats['updates']:,} updates, "
        f"{stats['words_per_second']:,.0f} words/s, analogy accuracy {_percent(acc)}")
    return stats
