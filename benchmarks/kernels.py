"""Wall time of NNGP + NTK for N inputs of dimension 784 (relu, erf; float32, float64; depth 1, 3, 10).

    python benchmarks/kernels.py [--sizes 1000,2000,4000] [--depths 1,3,10] [--threads 1] [--repeats 2]

Prints a markdown table: best-of-repeats seconds per case, and the floor (the first layer's Gram
matmul alone, x @ x.T) so each case reads as a ratio to it. neural-tangents figures quoted in
docs/kernels.md were measured separately by the issue's author (N = 4000, float32).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from infwidth.limits.kernels import mlp_kernels


def _best(fn, repeats: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,4000")
    ap.add_argument("--depths", default="1,3,10")
    ap.add_argument("--nonlinearities", default="relu,erf")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids OpenMP contention on shared CPUs)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from infwidth.device import resolve_device

    device = resolve_device(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}")
    print("| N | dtype | nonlinearity | depth | seconds | x floor |")
    print("|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    for n in [int(s) for s in args.sizes.split(",")]:
        x64 = torch.randn(n, args.dim, generator=gen, dtype=torch.float64)
        for dname in args.dtypes.split(","):
            dtype = getattr(torch, dname)
            x = x64.to(device=device, dtype=dtype)
            floor = _best(lambda x=x: x @ x.T, args.repeats)
            print(f"| {n} | {dname} | (x @ x.T floor) | - | {floor:.3f} | 1.0 |")
            for name in args.nonlinearities.split(","):
                for depth in [int(s) for s in args.depths.split(",")]:
                    secs = _best(lambda x=x, d=depth, nm=name, dt=dtype: mlp_kernels(
                        x, depth=d, nonlinearity=nm, dtype=dt, device=device), args.repeats)
                    print(f"| {n} | {dname} | {name} | {depth} | {secs:.3f} | {secs / floor:.1f} |", flush=True)


if __name__ == "__main__":
    main()
