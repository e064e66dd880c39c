"""Time a muP coordinate check: 3-hidden-layer ReLU MLP 3072 -> n x3 -> 10, batch 32, widths 64..4096,
3 SGD steps, 3 seeds; infwidth side by side with mup's ``get_coord_data`` when mup is importable.

    python benchmarks/coordcheck.py --repeats 5 [--threads T] [--mup-path DIR]

``--mup-path`` (or an installed ``mup``) adds the reference run; mup needs pandas and pyyaml.
Variants are interleaved round-robin so machine noise hits all of them alike; we report medians of
wall time and of process CPU time, and their ratios to mup. ``--threads`` sets torch's global thread
count (what mup runs with); infwidth's coordinate check uses its own default, 1 thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

WIDTHS = [64, 128, 256, 512, 1024, 2048, 4096]
D_IN, D_OUT, BATCH, STEPS, SEEDS, LR = 3072, 10, 32, 3, 3, 0.1


def infwidth_run(nested: bool, lowrank: bool) -> float:
    from infwidth.coordcheck import run_coordcheck
    from infwidth.parametrizations import mup

    start = time.perf_counter()
    cc = run_coordcheck(
        mup(3), WIDTHS, steps=STEPS, seeds=SEEDS, lr=LR, d_in=D_IN, d_out=D_OUT, batch=BATCH,
        nested=nested, lowrank=lowrank,
    )
    seconds = time.perf_counter() - start
    assert not cc.divergences
    return seconds


def mup_setup():
    """mup's documented MLP (MuReadout + set_base_shapes) and a loader with one fixed batch."""
    from mup import MuReadout, MuSGD, set_base_shapes  # noqa: F401
    from mup.coord_check import get_coord_data
    from torch import nn

    class MLP(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.fc1 = nn.Linear(D_IN, width, bias=False)
            self.fc2 = nn.Linear(width, width, bias=False)
            self.fc3 = nn.Linear(width, width, bias=False)
            self.readout = MuReadout(width, D_OUT, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.fc1(x))
            x = torch.relu(self.fc2(x))
            return self.readout(torch.relu(self.fc3(x)))

    base, delta = MLP(64), MLP(128)

    def lazy(width: int):
        return lambda: set_base_shapes(MLP(width), base, delta=delta)

    gen = torch.Generator().manual_seed(0)
    loader = [(torch.randn(BATCH, D_IN, generator=gen), torch.randint(0, D_OUT, (BATCH,), generator=gen))]

    def run() -> float:
        start = time.perf_counter()
        get_coord_data({w: lazy(w) for w in WIDTHS}, loader, optimizer="sgd", lr=LR, mup=True,
                       nsteps=STEPS, nseeds=SEEDS, cuda=False, show_progress=False)
        return time.perf_counter() - start

    return run


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, load average {load:.1f} at start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mup-path", default=None, help="directory holding the mup package (and pandas)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mup_path:
        sys.path.insert(0, args.mup_path)
    variants = {
        "infwidth (default: nested init, low-rank SGD)": lambda: infwidth_run(True, True),
        "infwidth (independent init, low-rank SGD)": lambda: infwidth_run(False, True),
        "infwidth (independent init, torch.optim.SGD)": lambda: infwidth_run(False, False),
    }
    try:
        variants["mup get_coord_data"] = mup_setup()
    except ImportError as exc:
        print(f"mup not importable ({exc}); timing infwidth only")
    print(machine())
    print(f"config: 3072 -> n x3 -> 10 ReLU, batch {BATCH}, widths {WIDTHS[0]}..{WIDTHS[-1]}, "
          f"{STEPS} SGD steps, {SEEDS} seeds, float32, CPU")
    for fn in variants.values():  # warm-up (imports, allocator)
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.repeats):
        for name, fn in variants.items():
            start = time.process_time()
            times[name].append(fn())
            cpu[name].append(time.process_time() - start)
        print(f"repeat {r + 1}/{args.repeats} (wall): " + ", ".join(f"{v[-1]:.2f}s" for v in times.values()))
    ref_name = "mup get_coord_data" if "mup get_coord_data" in times else next(iter(times))
    ref, ref_cpu = statistics.median(times[ref_name]), statistics.median(cpu[ref_name])
    print(f"\n{'variant':<46} {'wall s':>7} {'ratio':>6} {'cpu s':>7} {'ratio':>6}   (median of {args.repeats}; "
          f"ratio = / {ref_name})")
    for name in variants:
        med, med_cpu = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"{name:<46} {med:>7.2f} {med / ref:>6.2f} {med_cpu:>7.2f} {med_cpu / ref_cpu:>6.2f}")


if __name__ == "__main__":
    main()
