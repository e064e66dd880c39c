"""Cost of the Tensor-Program engine's muP limit, and the engine vs finite muP nets at equal accuracy.

    python benchmarks/tensor_programs.py [--quick] [--device cpu] [--out results.json]

Part 1 (growth): wall time of the limit (Monte Carlo) while one of T (steps), L (hidden layers),
B (batch), M (particles) doubles; fitted exponents ``time ~ X^k``. Next to them: the Gaussian
dimension D of the program (one per MatMul), so the nodes ``q^D`` that exact tensor quadrature would
need (exponential), and the ``(B T)^3`` that DMFT's kernel solvers pay.
Part 2 (side by side, one run): L = 3 ReLU, B = 16, T = 10. The engine at M particles has standard
error eps on the outputs; finite muP nets have an RMS gap ~ c n^{-1/2} to the limit (c fitted over
seeds at a few widths against a reference limit), so they reach eps at n_eps = (c / eps)^2. We time
the engine at M and finite nets at n_eps (1 net, and 8 seeds), and report their ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np
import torch

import infwidth as iw
from infwidth.limits.sgd import train_module
from infwidth.tensor_programs import gaussian_dims


def task(d_in: int = 2, n: int = 32, e: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64) / math.sqrt(d_in)
    y = torch.sin(2 * x[:, :1]) + 0.5 * x[:, 1:2]
    return x, y, torch.randn(e, d_in, generator=g, dtype=torch.float64) / math.sqrt(d_in)


def limit_time(depth: int, steps: int, batch: int, particles: int, lr: float, device: str,
               phi: str = "relu") -> dict:
    x, y, ex = task()
    lim = iw.mup(depth).feature_learning_limit(2, 1, phi, engine="tensor_program", particles=particles,
                                               device=device)
    prog = lim.program(x, y, lr, steps, batch, ex)
    start = time.perf_counter()
    run = lim.train(x, y, lr, steps, batch, ex, method="mc")
    return {"L": depth, "T": steps, "B": batch, "M": particles, "seconds": time.perf_counter() - start,
            "instructions": run.instructions, "gaussian_dims": gaussian_dims(prog.program),
            "f_se": float(run.f_se[-1].max()), "run": run}


def growth(quick: bool, device: str) -> dict:
    base = {"depth": 2, "steps": 4, "batch": 4, "particles": 2**12}
    sweeps = {
        "T": ("steps", [2, 4, 8] if quick else [2, 4, 8, 16]),
        "L": ("depth", [2, 3, 4] if quick else [2, 3, 4, 6]),
        "B": ("batch", [2, 4, 8] if quick else [2, 4, 8, 16]),
        "M": ("particles", [2**10, 2**12, 2**14] if quick else [2**10, 2**12, 2**14, 2**16]),
    }
    out = {}
    for label, (key, values) in sweeps.items():
        rows = []
        for v in values:
            kw = {**base, key: v}
            r = limit_time(kw["depth"], kw["steps"], kw["batch"], kw["particles"], 0.3, device)
            r.pop("run")
            rows.append(r)
            print(f"  {label}={v}: {r['seconds']:.2f} s, {r['instructions']} instructions, D={r['gaussian_dims']}",
                  flush=True)
        k = float(np.polyfit(np.log(values), np.log([r["seconds"] for r in rows]), 1)[0])
        out[label] = {"values": values, "rows": rows, "exponent": k}
        print(f"{label}: time ~ {label}^{k:.2f}", flush=True)
    return out


def side_by_side(device: str, quick: bool, seeds: int = 8) -> dict:
    depth, batch, steps, lr = 3, 16, (4 if quick else 10), 0.3
    x, y, ex = task()
    m_engine = 2**12 if quick else 2**14
    m_ref = 2 * m_engine if not quick else 4 * m_engine
    lim = iw.mup(depth).feature_learning_limit(2, 1, "relu", engine="tensor_program", device=device)
    start = time.perf_counter()
    run = lim.train(x, y, lr, steps, batch, ex, method="mc", particles=m_engine)
    t_engine = time.perf_counter() - start
    eps = float(run.f_se[-1].max())
    ref = lim.train(x, y, lr, steps, batch, ex, method="mc", particles=m_ref, seed=1)
    widths = [128, 512, 2048] if quick else [256, 1024, 4096]
    gaps, t_nets = [], []
    for n in widths:
        sq, secs = [], []
        for s in range(seeds):
            net = lim.sample(n, s)
            t0 = time.perf_counter()
            traj = train_module(net, x, y, lr, steps, batch, ex)
            secs.append(time.perf_counter() - t0)
            sq.append(float(((traj.f[-1] - ref.f[-1]) ** 2).mean()))
        # subtract the reference limit's own MC variance from the squared gap
        gaps.append(math.sqrt(max(np.mean(sq) - float((ref.f_se[-1] ** 2).mean()), 1e-30)))
        t_nets.append(float(np.median(secs)))
        print(f"  width {n}: RMS gap {gaps[-1]:.4f}, {t_nets[-1]:.3f} s per net", flush=True)
    c = float(np.exp(np.mean(np.log(gaps) + 0.5 * np.log(widths))))  # gap = c n^-1/2
    n_eps = int(math.ceil((c / eps) ** 2))
    net = lim.sample(n_eps, 0)
    t0 = time.perf_counter()
    train_module(net, x, y, lr, steps, batch, ex)
    t_net = time.perf_counter() - t0
    return {"L": depth, "B": batch, "T": steps, "M": m_engine, "engine_seconds": t_engine, "eps": eps,
            "gap_constant_c": c, "widths": widths, "gaps": gaps, "n_eps": n_eps, "finite_net_seconds": t_net,
            "finite_8_seeds_seconds": seeds * t_net, "ratio_engine_over_one_net": t_engine / t_net,
            "ratio_engine_over_8_nets": t_engine / (seeds * t_net)}


def derivatives(device: str) -> dict:
    """Standard error of the outputs per step: autograd vs Stein derivatives (L=2 ReLU, B=8, T=3, M=2^14)."""
    x, y, ex = task()
    lim = iw.mup(2).feature_learning_limit(2, 1, "relu", engine="tensor_program", device=device)
    out = {}
    for how in ("autograd", "stein"):
        run = lim.train(x, y, 0.5, 3, 8, ex, method="mc", particles=2**14, derivatives=how)
        out[how] = [float(v) for v in run.f_se.amax(dim=(1, 2))]
        print(f"  {how}: output SE by step {[f'{v:.4f}' for v in out[how]]}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sweeps and T=4 in part 2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    ap.add_argument("--parts", default="growth,side,derivatives", help="comma list of growth, side, derivatives")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, device {args.device}")
    parts = args.parts.split(",")
    res = {}
    if "derivatives" in parts:
        res["derivatives"] = derivatives(args.device)
    if "growth" in parts:
        res["growth"] = growth(args.quick, args.device)
    if "side" not in parts:
        print(json.dumps({k: v for k, v in res.items() if k != "growth"}))
        return
    res["side_by_side"] = side_by_side(args.device, args.quick)
    sbs = res["side_by_side"]
    print(f"side by side (L=3 relu, B=16, T={sbs['T']}): engine M={sbs['M']} -> SE {sbs['eps']:.4f} in "
          f"{sbs['engine_seconds']:.1f} s; finite nets reach that gap at n={sbs['n_eps']} "
          f"({sbs['finite_net_seconds']:.1f} s per net, {sbs['finite_8_seeds_seconds']:.1f} s for 8 seeds); "
          f"engine / one net = {sbs['ratio_engine_over_one_net']:.2f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
