"""Seconds per FOMAML meta-batch (32 tasks, 1-shot 5-way): width 8192, the muP limit, the NTK baseline.

    python benchmarks/maml.py [--repeats 5] [--threads 1] [--dtype float32]

Models are timed round-robin in one process (the machine is shared and noisy, so compare the
ratios). Uses the shipped Omniglot sample, so it needs no data directory. Also prints the expected
wall time of the paper schedule (100 epochs x 100 meta-batches, plus meta-val and meta-test
evaluation, which costs one forward adaptation per task without the meta-gradient).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--centres", type=int, default=20000, help="active centres for the meta-trained NTK f0")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from infwidth.experiments.maml.config import make_config
    from infwidth.experiments.maml.data import load_sample
    from infwidth.experiments.maml.experiment import build_learner, sampler

    sample = load_sample()
    learners, samplers = {}, {}
    for label, model, width, extra in (
        ("width 8192", "mup", 8192, {}),
        ("muP limit (789)", "mup", None, {}),
        ("NTK relu, f0 = 0", "ntk-relu", None, {}),
        (f"NTK relu, f0 on {args.centres} centres", "ntk-relu", None, {"meta_lr": 0.1}),
    ):
        dtype = args.dtype if model == "mup" else "float64"
        cfg = make_config(model, width, dtype=dtype, **extra)
        s = sampler(cfg, sample["train"], "train")
        learner = build_learner(cfg, s.pool)
        if extra:  # a meta-trained f0: give `centres` pool images non-zero coefficients
            g = torch.Generator().manual_seed(0)
            idx = torch.randperm(s.pool.shape[0], generator=g)[: args.centres]
            learner.coeffs[idx] = 1e-3 * torch.randn(idx.numel(), cfg.ways, generator=g, dtype=torch.float64)
        learners[label], samplers[label] = learner, s
    times: dict[str, list[float]] = {k: [] for k in learners}
    evals: dict[str, list[float]] = {k: [] for k in learners}
    for r in range(args.repeats + 1):  # the first round warms up
        for label, learner in learners.items():
            batch = samplers[label].batch(r, 32)
            t0 = time.perf_counter()
            learner.meta_step(batch)
            t1 = time.perf_counter()
            learner.evaluate(batch, 1)
            t2 = time.perf_counter()
            if r:
                times[label].append(t1 - t0)
                evals[label].append(t2 - t1)
    base = statistics.median(times["muP limit (789)"])
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), {args.dtype} for muP nets, float64 for kernels, median of {args.repeats}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print("| model | s / meta-batch (train) | ratio to limit | s / meta-batch (eval) | paper schedule (h) |")
    print("|---|---|---|---|---|")
    for label in learners:
        tr, ev = statistics.median(times[label]), statistics.median(evals[label])
        hours = (100 * 100 * tr + 100 * 100 * ev + 100 * ev) / 3600  # train + meta-val each epoch + meta-test
        print(f"| {label} | {tr:.3f} | {tr / base:.2f} | {ev:.3f} | {hours:.1f} |")


if __name__ == "__main__":
    main()
