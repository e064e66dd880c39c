"""Word2Vec benchmarks: training speed and peak memory, and the effect of minibatching on quality.

    python benchmarks/word2vec.py speed [--vocab 10000,30000] [--width 256] [--seconds 60]
    python benchmarks/word2vec.py batch [--batches 1,16,64,256,1024] [--model mup:64]
    python benchmarks/word2vec.py compare --binary PATH/TO/word2vec [--vocab 10000] [--seconds 90] [--threads 1,2]
    python benchmarks/word2vec.py step [--vocab 10000,30000] [--storage float32,bfloat16] [--threads 1,2]
    python benchmarks/word2vec.py gather [--vocab 30000] [--rows 4400] [--blocks 512,2048]

``step`` times one training step of the limit (and ``--models``) against the memory-bandwidth
floor measured beside it: the floor is the time to stream the bytes of the rows the step must
read and write once (the unique context and output rows of each batch, V values each, read and
written once) through one in-place pass over a contiguous buffer of that size. It reports CPU
seconds per batch (``time.process_time``: on a shared machine wall time mostly measures the other
jobs) and the fraction of the floor reached, for the steps named by ``--steps``: the fused CPU
kernel, the torch blocked step, and the previous (unfused, row-major) step. Beside it, the in-place
floor: the same bytes read and written once at the rows' own addresses in the model's storage
(one thread, no arithmetic) -- the least any step that updates the rows in place can cost -- and
the arithmetic alone: the same steps with every word id folded onto 64 rows, so that the multiply-adds
are the same (a negative is shifted off its target) but the rows stay in cache.

``compare`` runs the paper's C program (edwardjhu/TP4 ``Word2Vec/src/word2vec.c``, compiled by the
user; it is not part of this repository; its progress lines -- every 500k words, or more often in a
copy patched to report every 20k words without its 1-second thread sync -- give its words/s) and this package side by side on the same normalized
corpus and vocabulary, width 256 and the limit (the C code's ``-oh 1 -size 2V``), and reports
words/s of both and their ratio: on a shared machine only same-time ratios mean anything.

``speed`` trains each case in a fresh subprocess (so peak RSS is per case) on a synthetic Zipf
corpus with the paper's settings and reports words/s -- counted like word2vec.c, i.e. words read
before subsampling -- updates/s and peak resident memory. ``batch`` trains the same model on the
shipped sample with several batch sizes (same data, seed and epoch) and compares the final loss,
analogy accuracy and how much the embeddings agree with the batch-1 run (correlation of the
pairwise cosine similarities of the 300 most frequent words).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time


def _timed_training(spec: str, data, batch: int, seconds: float) -> tuple:
    """Train ``spec`` on ``data`` batch by batch until ``seconds`` have passed after one warm-up batch.

    Returns (model, words read -- before subsampling, like word2vec.c --, timed batches, elapsed s).
    """
    import numpy as np
    import torch

    from infwidth.experiments.word2vec.config import TrainConfig
    from infwidth.experiments.word2vec.models import build_model, cbow_update
    from infwidth.experiments.word2vec.train import epoch_stream, learning_rate, make_batch

    cfg = TrainConfig(batch_size=batch)
    kept, pos = epoch_stream(data, 0, 0)
    model = build_model(spec, data.vocab_size)
    n_batches, start = 0, None
    for b in range(len(kept) // batch):
        lo, hi = b * batch, (b + 1) * batch
        ctx, mask, tgt, neg = make_batch(kept, lo, hi, cfg, data.neg_cdf, np.random.default_rng([0, b]))
        lr = learning_rate(cfg, int(pos[lo]), len(data.ids))
        cbow_update(model, *(torch.from_numpy(x) for x in (ctx, mask, tgt, neg)), lr, cfg.weight_decay)
        if start is None:
            start, first_pos = time.perf_counter(), int(pos[hi])
            continue
        n_batches += 1
        if time.perf_counter() - start >= seconds:
            break
    elapsed = time.perf_counter() - start
    return model, int(pos[hi]) - first_pos, n_batches, elapsed


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _speed_case(spec: str, vocab: int, batch: int, seconds: float, threads: int) -> dict:
    import numpy as np
    import torch

    from infwidth.experiments.word2vec.train import corpus_from_ids

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    zipf = 1.0 / np.arange(1, vocab + 1)
    tokens = rng.choice(vocab, size=max(2_000_000, 40 * vocab), p=zipf / zipf.sum())
    data = corpus_from_ids([f"w{i}" for i in range(vocab)], tokens)
    model, words, n_batches, elapsed = _timed_training(spec, data, batch, seconds)
    return {
        "model": spec,
        "V": vocab,
        "width": model.width,
        "batch": batch,
        "words_per_s": words / elapsed,
        "updates_per_s": n_batches * batch / elapsed,
        "peak_rss_gb": _peak_rss_gb(),
        "matrices_gb": 2 * model.vocab_size * model.width * 4 / 1e9,
        "seconds": elapsed,
    }


def speed(args: argparse.Namespace) -> None:
    cases = [(f"mup:{w}", v) for v in args.vocab for w in args.width] + [("limit", v) for v in args.vocab]
    print(f"# machine: {platform.processor() or platform.machine()}, {platform.platform()}, threads={args.threads}")
    print("| model | V | width | batch | words/s | updates/s | peak RSS GB | matrices GB |")
    print("|---|---|---|---|---|---|---|---|")
    for spec, vocab in cases:
        cmd = [sys.executable, __file__, "_case", spec, str(vocab), str(args.batch), str(args.seconds), str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(
            f"| {r['model']} | {r['V']:,} | {r['width']:,} | {r['batch']} | {r['words_per_s']:,.0f} | "
            f"{r['updates_per_s']:,.0f} | {r['peak_rss_gb']:.2f} | {r['matrices_gb']:.2f} |",
            flush=True,
        )


def _ours_on_corpus(spec: str, ids_path: str, batch: int, seconds: float, threads: int) -> dict:
    """Words/s of our trainer on saved word ids (words read, before subsampling, like word2vec.c)."""
    import numpy as np
    import torch

    from infwidth.experiments.word2vec.train import CorpusData

    torch.set_num_threads(threads)
    z = np.load(ids_path)
    data = CorpusData([str(i) for i in range(len(z["keep"]))], z["counts"], z["ids"], z["keep"], z["neg_cdf"])
    _, words, _, elapsed = _timed_training(spec, data, batch, seconds)
    return {"words_per_s": words / elapsed, "peak_rss_gb": _peak_rss_gb()}


def _c_words_per_s(cmd: list[str], seconds: float) -> float:
    """Run word2vec.c, timestamp its progress lines (word counts every 500k words), stop it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    marks = []
    t_end = None
    try:
        for line in proc.stdout:
            parts = line.split("\t")
            if len(parts) == 4:
                marks.append((time.perf_counter(), int(parts[2])))
                if t_end is None:
                    t_end = time.perf_counter() + seconds
                elif time.perf_counter() >= t_end and len(marks) >= 3:
                    break
    finally:
        proc.kill()
        proc.wait()
    if len(marks) < 2:
        raise SystemExit("word2vec.c printed fewer than two progress lines; raise --seconds")
    (t0, w0), (t1, w1) = marks[0], marks[-1]
    return (w1 - w0) / (t1 - t0)


def compare(args: argparse.Namespace) -> None:
    import os
    import tempfile

    import numpy as np

    from infwidth.datasets import data_root
    from infwidth.experiments.word2vec.config import TrainConfig
    from infwidth.experiments.word2vec.corpus import normalized_chunks
    from infwidth.experiments.word2vec.train import prepare_data

    tmp = tempfile.mkdtemp(prefix="w2v-compare-")
    text = os.path.join(tmp, "corpus.txt")
    with open(text, "w") as fh:
        for chunk in normalized_chunks(data_root(args.data), args.chars):
            fh.write(chunk)
    # a min-count giving about --vocab words (word2vec.c adds </s>, which never occurs in one line)
    probe = prepare_data(TrainConfig(max_chars=args.chars, min_count=1), args.data)
    min_count = int(probe.counts[min(args.vocab, len(probe.counts)) - 1])
    data = prepare_data(TrainConfig(max_chars=args.chars, min_count=min_count), args.data)
    V = data.vocab_size
    ids_path = os.path.join(tmp, "ids.npz")
    np.savez(ids_path, ids=data.ids, counts=data.counts, keep=data.keep, neg_cdf=data.neg_cdf)
    print(f"# corpus: first {args.chars:,} characters, min-count {min_count}, V = {V:,} (+ </s> in the C code); "
          f"C threads {args.c_threads}, batch {args.batch}, {args.seconds:.0f} s per case")
    print("| model | word2vec.c words/s | our threads | ours words/s | ours / C | our peak RSS GB |")
    print("|---|---|---|---|---|---|")
    base = [args.binary, "-train", text, "-output", os.path.join(tmp, "vec"), "-window", "8", "-negative", "25",
            "-sample", "1e-4", "-threads", str(args.c_threads), "-binary", "1", "-iter", "1", "-wd", "0.001",
            "-alpha", "0.05", "-min-count", str(min_count)]
    cases = (("width 256", "mup:256", ["-size", "256"]),
             (f"limit (C: width 2V = {2 * (V + 1):,})", "limit", ["-size", str(2 * (V + 1)), "-oh", "1"]))
    for name, spec, extra in cases:
        if spec not in args.cases:
            continue
        c = _c_words_per_s(base + extra, args.seconds) if args.binary != "none" else float("nan")
        for threads in args.threads:
            cmd = [sys.executable, __file__, "_ours", spec, ids_path, str(args.batch), str(args.seconds), str(threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            ours = json.loads(out)
            print(f"| {name} | {c:,.0f} | {threads} | {ours['words_per_s']:,.0f} | {ours['words_per_s'] / c:.2f} | "
                  f"{ours['peak_rss_gb']:.2f} |", flush=True)


STEPS = {"kernel": "fused kernel", "torch": "torch blocked", "unfused": "unfused (before)"}


def _step_case(spec: str, vocab: int, storage: str, threads: int, batches: int, which: str, B: int = 256) -> dict:
    import numpy as np
    import torch

    from infwidth.experiments.word2vec.config import TrainConfig
    from infwidth.experiments.word2vec.models import build_model, cbow_update, cbow_update_unfused
    from infwidth.experiments.word2vec.train import corpus_from_ids, epoch_stream, make_batch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    zipf = 1.0 / np.arange(1, vocab + 1)
    tokens = rng.choice(vocab, size=max(2_000_000, 40 * vocab), p=zipf / zipf.sum())
    data = corpus_from_ids([f"w{i}" for i in range(vocab)], tokens)
    cfg = TrainConfig(batch_size=B)
    kept, _ = epoch_stream(data, 0, 0)
    cases = [tuple(torch.from_numpy(x) for x in make_batch(kept, b * B, (b + 1) * B, cfg, data.neg_cdf,
                                                           np.random.default_rng([0, b])))
             for b in range(batches + 1)]
    itemsize = getattr(torch, storage).itemsize
    if which == "unfused":  # the previous step on row-major matrices (built directly: never two copies at once)
        if spec == "limit":
            emb, out = torch.eye(vocab), torch.zeros(vocab, vocab)
        else:
            m = build_model(spec, vocab)
            emb, out = m.embeddings(), m.output_vectors()
            del m
        mats = {"emb": emb, "out": out, "emb_scale": torch.ones(vocab), "out_scale": torch.ones(vocab),
                "train_emb": True}

        def step(batch, seed):
            return cbow_update_unfused(mats, *batch, 0.05, 0.001)
    else:
        model = build_model(spec, vocab, storage=getattr(torch, storage))

        def step(batch, seed):
            return cbow_update(model, *batch, 0.05, 0.001, rounding_seed=seed, kernel=which == "kernel")
    step(cases[0], 0)  # warm-up
    rows = 0
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    for b, batch in enumerate(cases[1:]):
        step(batch, b)
    cpu, wall = (time.process_time() - t_cpu) / batches, (time.perf_counter() - t_wall) / batches
    for ctx, mask, tgt, neg in cases[1:]:
        rows += len(torch.unique(ctx[mask])) + len(torch.unique(torch.cat([tgt[:, None], neg], 1)))
    width = vocab if spec == "limit" else int(spec.split(":")[1])
    row_bytes = rows / batches * width * itemsize  # bytes of the unique rows of one batch
    # The floor: read and write those bytes once, streaming (in place, contiguous; float32 whatever
    # the storage, so that a slow 16-bit multiply cannot make the floor look lower than memory allows).
    # At most 512 MB are streamed and the time scaled to the full size (linear far beyond the
    # caches), so the paper-scale limit's 19 GB and the buffer never have to fit side by side.
    n = int(min(row_bytes, 512e6) // 4)
    buf = torch.ones(n, dtype=torch.float32)
    buf.mul_(1.0)
    t = time.process_time()
    for _ in range(5):
        buf.mul_(1.0)
    floor = (time.process_time() - t) / 5 * (row_bytes / (4 * n))
    in_place = _in_place_floor(model, cases[1:]) if which != "unfused" else float("nan")
    # The arithmetic alone: the same steps with every word id folded onto 64 rows (same occurrences,
    # so the same multiply-adds, but the rows stay in cache). Run last: it changes the model.
    t = time.process_time()
    for b, (ctx, mask, tgt, neg) in enumerate(cases[1:]):
        tf, nf = tgt % 64, neg % 64
        step((ctx % 64, mask, tf, torch.where(nf == tf[:, None], (nf + 1) % 64, nf)), b)
    arith = (time.process_time() - t) / batches
    return {"model": spec, "V": vocab, "storage": storage, "threads": threads, "step": which,
            "cpu_s_per_batch": cpu, "wall_s_per_batch": wall, "floor_s": floor,
            "floor_gb_per_s": 2 * row_bytes / floor / 1e9, "in_place_floor_s": in_place, "arithmetic_s": arith,
            "unique_rows_per_batch": rows / batches,
            "targets_per_cpu_s": B / cpu, "peak_rss_gb": _peak_rss_gb()}


def _in_place_floor(model, batches) -> float:
    """CPU seconds per batch to read and write each unique row of the batch once where it is stored
    (``x += 0`` over the row's segment in every column block, rows in increasing order): the same
    bytes as the streaming floor, at the addresses the step must use. No step that updates the rows
    in place can be faster; how far it is above the streaming floor is what scattered rows cost on
    this machine."""
    import numpy as np
    import torch
    from numba import njit

    from infwidth.experiments.word2vec.models import _raw

    @njit
    def touch(store, rows, zero):
        for k in range(store.shape[0]):
            for u in range(len(rows)):
                r = store[k, rows[u]]
                for j in range(store.shape[2]):
                    r[j] += zero  # a run-time zero: a real read and write the compiler cannot drop

    emb, out = _raw(model.emb_store), _raw(model.out_store)
    zero = np.zeros(1, emb.dtype)[0]
    touch(emb[:1], np.zeros(1, np.int64), zero)  # compile
    t = time.process_time()
    for ctx, mask, tgt, neg in batches:
        touch(emb, torch.unique(ctx[mask]).numpy(), zero)
        touch(out, torch.unique(torch.cat([tgt[:, None], neg], 1)).numpy(), zero)
    return (time.process_time() - t) / len(batches)


def step_speed(args: argparse.Namespace) -> None:
    print(f"# machine: {platform.processor() or platform.machine()}, {platform.platform()}; batch {args.batch}, "
          f"{args.batches} batches per case, synthetic Zipf corpus; times are CPU seconds (process_time)")
    print("| model | V | storage | step | threads | CPU s / batch | wall s / batch | floor s (GB/s) | "
          "fraction of floor | in-place floor s | fraction of in-place floor | arithmetic alone s | targets per CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for vocab in args.vocab:
        for spec in args.models:
            for storage in args.storage:
                for threads in args.threads:
                    for which in args.steps:
                        if which == "unfused" and storage == "bfloat16":
                            continue  # the unfused step has no 16-bit storage
                        cmd = [sys.executable, __file__, "_step", spec, str(vocab), storage, str(threads),
                               str(args.batches), which, str(args.batch)]
                        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                        r = json.loads(out.strip().splitlines()[-1])
                        print(f"| {spec} | {vocab:,} | {storage} | {STEPS[which]} | "
                              f"{threads} | {r['cpu_s_per_batch']:.3f} | {r['wall_s_per_batch']:.3f} | "
                              f"{r['floor_s']:.3f} ({r['floor_gb_per_s']:.1f}) | "
                              f"{r['floor_s'] / r['cpu_s_per_batch']:.0%} | {r['in_place_floor_s']:.3f} | "
                              f"{r['in_place_floor_s'] / r['cpu_s_per_batch']:.0%} | {r['arithmetic_s']:.3f} | "
                              f"{r['targets_per_cpu_s']:,.0f} |",
                              flush=True)


def gather(args: argparse.Namespace) -> None:
    """Memory rates of the kernel's access pattern, one process, side by side: scale in place the
    ``--rows`` unique rows (random, sorted) of a float32 block store ``nb x V x c`` (each row one
    ``c``-float segment per block), on 4 KB pages and on 2 MB pages, against one contiguous pass over
    as many bytes. GB/s count the bytes once (read + write of each)."""
    import numpy as np
    import torch
    from numba import njit

    from infwidth.experiments.word2vec.models import _advise_huge_pages

    @njit
    def scale_rows(store, rows):
        for k in range(store.shape[0]):
            for u in range(len(rows)):
                r = store[k, rows[u]]
                for j in range(store.shape[2]):
                    r[j] *= np.float32(1.0001)

    @njit
    def scale_all(buf):
        for i in range(len(buf)):
            buf[i] *= np.float32(1.0001)

    V = args.vocab
    rows = np.sort(np.random.default_rng(0).choice(V, args.rows, replace=False))
    print(f"# V = {V:,}, {args.rows:,} unique rows, float32, one thread; best of 3 passes")
    print("| block c | pages | store GB | rows GB | s / pass | GB/s | contiguous GB/s |")
    print("|---|---|---|---|---|---|---|")
    for c in args.blocks:
        nb = -(-V // c)
        for huge in (False, True):
            store = torch.empty(nb, V, c)
            if huge:
                _advise_huge_pages(store)
            store.fill_(1.0)
            arr = store.numpy()
            scale_rows(arr[:1], rows[:2])  # compile
            t = min(_timed(scale_rows, arr, rows) for _ in range(3))
            gb = nb * args.rows * c * 4 / 1e9
            buf = np.ones(int(gb * 1e9 / 4), np.float32)
            scale_all(buf[:16])
            tc = min(_timed(scale_all, buf) for _ in range(3))
            print(f"| {c} | {'2 MB' if huge else '4 KB'} | {store.numel() * 4 / 1e9:.2f} | {gb:.2f} | {t:.3f} | "
                  f"{gb / t:.1f} | {gb / tc:.1f} |", flush=True)
            del store, arr, buf


def _timed(f, *a) -> float:
    t = time.perf_counter()
    f(*a)
    return time.perf_counter() - t


def _agreement(a, b, top: int = 300) -> float:
    import torch

    def cos(e):
        e = e[:top] / e[:top].norm(dim=1, keepdim=True).clamp_min(1e-12)
        sim = e @ e.T
        iu = torch.triu_indices(top, top, 1)
        return sim[iu[0], iu[1]]

    x, y = cos(a), cos(b)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (x.norm() * y.norm()))


def batch_quality(args: argparse.Namespace) -> None:
    import dataclasses

    import torch

    from infwidth.experiments.word2vec.config import PRESETS
    from infwidth.experiments.word2vec.models import build_model
    from infwidth.experiments.word2vec.train import (
        evaluate_embeddings,
        prepare_data,
        questions_source,
        train_model,
    )

    torch.set_num_threads(args.threads)
    base = dataclasses.replace(PRESETS["tiny"], vocab_cap=args.vocab, epochs=args.epochs, max_chars=args.chars)
    data = prepare_data(base)
    print(f"# corpus: shipped sample, first {args.chars} chars, V = {data.vocab_size}, {len(data.ids):,} tokens, "
          f"{args.epochs} epoch(s), model {args.model}, seed {base.seed}")
    print("| batch | final loss | updates | analogy % (evaluated) | agreement with batch 1 | seconds |")
    print("|---|---|---|---|---|---|")
    ref = None
    for batch in args.batches:
        cfg = dataclasses.replace(base, batch_size=batch)
        model = build_model(args.model, data.vocab_size, seed=cfg.seed)
        stats = train_model(model, data, cfg, progress=False)
        emb = model.embeddings()
        acc = evaluate_embeddings(emb, data.words, questions_source(cfg))
        if ref is None:
            ref = emb
        agree = _agreement(ref, emb)
        print(
            f"| {batch} | {stats['loss']:.4f} | {stats['updates']:,} | {100 * acc['accuracy']:.2f} "
            f"({acc['total']['evaluated']}) | {agree:.3f} | {stats['train_seconds']:.0f} |",
            flush=True,
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ours":
        spec, ids_path, batch, seconds, threads = sys.argv[2:7]
        print(json.dumps(_ours_on_corpus(spec, ids_path, int(batch), float(seconds), int(threads))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_step":
        spec, vocab, storage, threads, batches, which, batch = sys.argv[2:9]
        print(json.dumps(_step_case(spec, int(vocab), storage, int(threads), int(batches), which, int(batch))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_case":
        spec, vocab, batch, seconds, threads = sys.argv[2:7]
        print(json.dumps(_speed_case(spec, int(vocab), int(batch), float(seconds), int(threads))))
        return
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--vocab", type=ints, default=[10000, 30000])
    s.add_argument("--width", type=ints, default=[256])
    s.add_argument("--batch", type=int, default=256)
    s.add_argument("--seconds", type=float, default=60.0)
    s.add_argument("--threads", type=int, default=1)
    q = sub.add_parser("batch")
    q.add_argument("--batches", type=ints, default=[1, 16, 64, 256, 1024])
    q.add_argument("--model", default="mup:64")
    q.add_argument("--vocab", type=int, default=2000)
    q.add_argument("--chars", type=int, default=4_000_000)
    q.add_argument("--epochs", type=int, default=1)
    q.add_argument("--threads", type=int, default=1)
    c = sub.add_parser("compare")
    c.add_argument("--binary", required=True, help="the paper's word2vec program, compiled ('none': ours only)")
    c.add_argument("--data", default=None, help="data directory (default: $INFWIDTH_DATA)")
    c.add_argument("--chars", type=int, default=30_000_000)
    c.add_argument("--vocab", type=int, default=10000)
    c.add_argument("--batch", type=int, default=256)
    c.add_argument("--seconds", type=float, default=90.0)
    c.add_argument("--c-threads", type=int, default=2)
    c.add_argument("--threads", type=ints, default=[1], help="our thread counts, each beside the same C run")
    c.add_argument("--cases", default="mup:256,limit", help="which of mup:256,limit to run")
    st = sub.add_parser("step")
    st.add_argument("--vocab", type=ints, default=[10000, 30000])
    st.add_argument("--models", type=lambda s: s.split(","), default=["limit"])
    st.add_argument("--storage", type=lambda s: s.split(","), default=["float32", "bfloat16"])
    st.add_argument("--threads", type=ints, default=[1, 2])
    st.add_argument("--batches", type=int, default=6)
    st.add_argument("--batch", type=int, default=256, help="targets per batch (paper-text8 trains with 1024)")
    st.add_argument("--steps", type=lambda s: s.split(","), default=["kernel", "torch"],
                    help=f"which of {','.join(STEPS)} to time (kernel: the fused CPU kernel, the default on CPU)")
    g = sub.add_parser("gather")
    g.add_argument("--vocab", type=int, default=30000)
    g.add_argument("--rows", type=int, default=4400)
    g.add_argument("--blocks", type=ints, default=[512, 2048])
    args = p.parse_args()
    if args.mode == "step" and not set(args.steps) <= set(STEPS):
        p.error(f"--steps: choose from {','.join(STEPS)}")
    {"speed": speed, "batch": batch_quality, "compare": compare, "step": step_speed, "gather": gather}[args.mode](args)


if __name__ == "__main__":
    main()
