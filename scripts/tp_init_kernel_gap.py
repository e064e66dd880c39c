"""Finite muP nets' feature kernel at initialisation against the exact NNGP kernel: gap vs width and slope.

    python scripts/tp_init_kernel_gap.py PHI DEPTH SEEDS

The convergence test's setting (``infwidth converge --model mlp``: its task and seeds, widths 2^6..2^13)
at step 0, where no SGD step and no Tensor-Program engine is involved: the limit is the NNGP kernel of
``limits/kernels`` (deterministic, no Monte-Carlo error). It separates the finite nets' own
fluctuations at these widths (and how many seeds pin their slope down) from the training dynamics.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

import infwidth as iw
from infwidth.limits.kernels.regime import regime_kernel_fn
from infwidth.studies.converge import ConvergenceConfig, make_limit, make_task


def main() -> None:
    phi, depth, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    cfg = ConvergenceConfig(model="mlp", depth=depth, nonlinearity=phi, steps=5, batch=8, lr=0.3,
                            widths=tuple(2**k for k in range(6, 14)), seeds=seeds).check()
    x, y, ex = make_task(cfg.model, cfg.seed)
    lim = make_limit(cfg, (x, y, ex))
    nngp = regime_kernel_fn(iw.ntp(depth), x.shape[1], nonlinearity=phi)(ex).nngp
    gaps = []
    for n in cfg.widths:
        sq = []
        for s in range(seeds):
            net = lim.sample(n, cfg.seed * 100_003 + s)  # the seeds of run_convergence
            with torch.no_grad():
                h = net.features(ex)
            sq.append(float((torch.linalg.matrix_norm(h @ h.T - nngp) / torch.linalg.matrix_norm(nngp)) ** 2))
        gaps.append(math.sqrt(float(np.mean(sq))))
        print(f"width {n}: RMS relative kernel gap {gaps[-1]:.4f}", flush=True)
    w = np.log(np.array(cfg.widths, dtype=float))
    print(f"slope over all widths {np.polyfit(w, np.log(gaps), 1)[0]:.3f}, "
          f"from 2^9 {np.polyfit(w[3:], np.log(gaps[3:]), 1)[0]:.3f}")


if __name__ == "__main__":
    main()
