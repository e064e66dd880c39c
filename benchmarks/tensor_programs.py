"""Cost of the Tensor-Program engine's muP limit, and the engine vs finite muP nets at equal accuracy.

    python benchmarks/tensor_programs.py [--quick] [--device cpu] [--out results.json]

Part 1 (growth): wall time of the limit (Monte Carlo) while one of T (steps), L (hidden layers),
B (batch), M (particles) doubles; fitted exponents ``time ~ X^k``. Next to them: the Gaussian
dimension D of the program (one per MatMul), so the nodes ``q^D`` that exact tensor quadrature would
need (exponential), and the ``(B T)^3`` that DMFT's kernel solvers pay.
Part 2 (side by side, one run): L = 3 ReLU, B = 16, T = 10, float32 for both. The engine at M particles
has standard error eps ~ s M^{-1/2} on the outputs and costs ~ a M^k; finite muP nets have an RMS gap
~ c n^{-1/2} to the limit (c fitted over 8 seeds at a few widths against the largest-M limit), so one net
reaches eps at n_eps = (c / eps)^2 and costs ~ b n_eps^q. Reported: the measured costs, the crossover
eps* where one net costs as much as the engine, and one net timed at the largest-M engine's n_eps.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
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


def side_by_side(device: str, quick: bool, seeds: int = 8, dtype: torch.dtype = torch.float32,
                 verify_max_width: int = 24000) -> dict:
    """Engine vs finite muP nets at equal accuracy (L = 3 ReLU, B = 16, T = 10; --quick: T = 4).

    Engine: time and output standard error at several M (fits time ~ a M^k, SE ~ s M^-1/2). Finite:
    the RMS gap of 8 seeds to the largest-M limit (its own variance subtracted) at a few widths,
    fitted as c n^-1/2, and the time of one net vs n (fitted ~ b n^q). Then the accuracy eps* at which
    one finite net of that accuracy (width (c/eps)^2) costs as much as the engine, and a direct check:
    one net at the width where its gap equals the largest-M engine's SE, timed in the same run.
    """
    depth, batch, steps, lr = 3, 16, (4 if quick else 10), 0.3
    x, y, ex = task()
    ms = [2**10, 2**11, 2**12] if quick else [2**12, 2**13, 2**14]
    lim = iw.mup(depth).feature_learning_limit(2, 1, "relu", engine="tensor_program", device=device, dtype=dtype)
    engine = []
    for m in ms:
        start = time.perf_counter()
        run = lim.train(x, y, lr, steps, batch, ex, method="mc", particles=m, progress=lambda a, b: None)
        engine.append({"M": m, "seconds": time.perf_counter() - start, "eps": float(run.f_se[-1].max()),
                       "eps_rms": float(run.f_se[-1].pow(2).mean().sqrt())})
        print(f"  engine M={m}: {engine[-1]['seconds']:.1f} s, output SE max {engine[-1]['eps']:.4f}", flush=True)
    ref = run  # the largest M is the reference limit
    k_time = float(np.polyfit(np.log(ms), np.log([e["seconds"] for e in engine]), 1)[0])
    s_se = float(np.exp(np.mean(np.log([e["eps"] for e in engine]) + 0.5 * np.log(ms))))  # SE = s M^-1/2
    widths = [128, 256, 512, 1024] if quick else [256, 512, 1024, 2048]
    gaps, t_nets = [], []
    for n in widths:
        sq, secs = [], []
        for s in range(seeds):
            net = lim.sample(n, s)
            t0 = time.perf_counter()
            traj = train_module(net, x.to(dtype), y.to(dtype), lr, steps, batch, ex.to(dtype))
            secs.append(time.perf_counter() - t0)
            sq.append(float(((traj.f[-1].double() - ref.f[-1]) ** 2).mean()))
        gaps.append(math.sqrt(max(np.mean(sq) - float((ref.f_se[-1] ** 2).mean()), 1e-30)))
        t_nets.append(float(np.median(secs)))
        print(f"  width {n}: RMS gap {gaps[-1]:.4f}, {t_nets[-1]:.3f} s per net", flush=True)
    c = float(np.exp(np.mean(np.log(gaps) + 0.5 * np.log(widths))))  # gap = c n^-1/2
    slope = float(np.polyfit(np.log(widths), np.log(gaps), 1)[0])
    # time of one net at larger widths (the cost side of the fit)
    t_widths = widths[-2:] + [4 * widths[-1], 8 * widths[-1]]
    t_at = {n: t for n, t in zip(widths, t_nets, strict=True)}
    for n in t_widths:
        if n not in t_at:
            net = lim.sample(n, 0)
            t0 = time.perf_counter()
            train_module(net, x.to(dtype), y.to(dtype), lr, steps, batch, ex.to(dtype))
            t_at[n] = time.perf_counter() - t0
            del net
            print(f"  width {n}: {t_at[n]:.2f} s per net (timing only)", flush=True)
    big = sorted(t_at)[-3:]
    q = float(np.polyfit(np.log(big), np.log([t_at[n] for n in big]), 1)[0])
    # extrapolation, anchored at the largest measured points: the engine's work is linear in M (its cost
    # grows more slowly only while overhead-bound) and a net's is ~ n^2, so
    # engine(eps) = t_E (e0/eps)^2 and one net(eps) = t_F(n_max) ((c/eps)^2 / n_max)^2; equal at eps*
    e0, t_e = engine[-1]["eps"], engine[-1]["seconds"]
    n_max = max(t_at)
    eps_star = c * c * math.sqrt(t_at[n_max] / t_e) / (e0 * n_max)
    n_eps = int(math.ceil((c / e0) ** 2))
    out = {"L": depth, "B": batch, "T": steps, "dtype": str(dtype).replace("torch.", ""), "engine": engine,
           "engine_time_exponent_M": k_time, "se_constant_s": s_se, "widths": widths, "gaps": gaps,
           "gap_slope": slope, "gap_constant_c": c, "net_seconds": {str(n): t for n, t in sorted(t_at.items())},
           "net_time_exponent_n": q, "eps_engine": e0, "n_eps": n_eps, "eps_star": eps_star,
           "n_at_eps_star": int(math.ceil((c / eps_star) ** 2)), "M_at_eps_star": int(math.ceil((s_se / eps_star) ** 2))}
    if n_eps <= verify_max_width:  # direct check at the largest-M engine's accuracy
        net = lim.sample(n_eps, 0)
        t0 = time.perf_counter()
        train_module(net, x.to(dtype), y.to(dtype), lr, steps, batch, ex.to(dtype))
        out["finite_net_seconds_at_n_eps"] = time.perf_counter() - t0
        out["ratio_engine_over_one_net"] = engine[-1]["seconds"] / out["finite_net_seconds_at_n_eps"]
        out["ratio_engine_over_8_nets"] = out["ratio_engine_over_one_net"] / seeds
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        del net
    print(json.dumps(out, indent=1), flush=True)
    return out


def schedule(device: str) -> dict:
    """Grouped execution (waves of instructions, one torch call per group) vs the one-instruction-at-a-time
    reference, side by side: L = 3 ReLU, B = 16, M = 2^12, float64, T = 2, 4, 6."""
    x, y, ex = task()
    lim = iw.mup(3).feature_learning_limit(2, 1, "relu", engine="tensor_program", device=device)
    rows = []
    for steps in (2, 4, 6):
        row = {"T": steps}
        for name, how in (("one_at_a_time", "sequential"), ("grouped", "waves")):
            start = time.perf_counter()
            run = lim.train(x, y, 0.3, steps, 16, ex, method="mc", particles=2**12, progress=lambda a, b: None,
                            schedule=how)
            row[name] = time.perf_counter() - start
            row[name + "_f"] = [round(float(v), 6) for v in run.f[-1].flatten()]
        row["speedup"] = row["one_at_a_time"] / row["grouped"]
        rows.append(row)
        print(f"  T={steps}: one at a time {row['one_at_a_time']:.1f} s, grouped {row['grouped']:.1f} s "
              f"({row['speedup']:.1f}x)", flush=True)
    return {"L": 3, "B": 16, "M": 2**12, "rows": rows}


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
    ap.add_argument("--parts", default="growth,side,derivatives", help="comma list of growth, side, derivatives, schedule")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, device {args.device}")
    parts = args.parts.split(",")
    res = {}
    if "derivatives" in parts:
        res["derivatives"] = derivatives(args.device)
    if "schedule" in parts:
        res["schedule"] = schedule(args.device)
    if "growth" in parts:
        res["growth"] = growth(args.quick, args.device)
    if "side" not in parts:
        print(json.dumps({k: v for k, v in res.items() if k != "growth"}))
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(res, fh, indent=2)
        return
    res["side_by_side"] = side_by_side(args.device, args.quick)
    sbs = res["side_by_side"]
    print(f"side by side (L=3 relu, B=16, T={sbs['T']}, {sbs['dtype']}): engine M={sbs['engine'][-1]['M']} -> SE "
          f"{sbs['eps_engine']:.4f} in {sbs['engine'][-1]['seconds']:.1f} s; a finite net reaches that gap at "
          f"n={sbs['n_eps']} ({sbs.get('finite_net_seconds_at_n_eps', float('nan')):.1f} s); crossover eps* = "
          f"{sbs['eps_star']:.2g} (n = {sbs['n_at_eps_star']}, M = {sbs['M_at_eps_star']})")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
