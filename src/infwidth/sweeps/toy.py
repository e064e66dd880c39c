"""A synthetic unit with a known optimum: for tests, benchmarks and examples of the sweep machinery.

``loss = (log2 lr - log2 lr*(width))^2 + noise``, with ``log2 lr*(width) = center + drift * log2(width / base_width)``:
``drift = 0`` is a perfectly transferring parametrization, ``drift = -1`` one whose best rate halves per
width doubling. ``fail_at_lr`` makes points at that rate raise (a unit that fails at some points);
``crash_at_lr`` kills the process running them (a worker that dies).
"""

from __future__ import annotations

import math
import os
import time
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class QuadraticConfig:
    width: int = 64
    lr: float = 1e-3
    seed: int = 0
    param: str = "mup"
    center: float = -8.0
    drift: float = 0.0
    base_width: int = 64
    noise: float = 0.05
    fail_at_lr: float | None = None
    crash_at_lr: float | None = None
    sleep: float = 0.0


def quadratic(config: QuadraticConfig) -> dict[str, float]:
    """One synthetic "training run": the loss of rate ``lr`` at ``width``, with seeded noise."""
    import numpy as np

    if config.fail_at_lr is not None and math.isclose(config.lr, config.fail_at_lr):
        raise FloatingPointError(f"loss diverged at lr={config.lr:g}")
    if config.crash_at_lr is not None and math.isclose(config.lr, config.crash_at_lr):
        os._exit(3)  # the worker process dies (as when killed or out of memory)
    if config.sleep:
        time.sleep(config.sleep)
    optimum = config.center + config.drift * math.log2(config.width / config.base_width)
    rng = np.random.default_rng([config.seed, config.width, zlib.crc32(config.param.encode()), round(1e6 * config.lr)])
    loss = (math.log2(config.lr) - optimum) ** 2 + config.noise * float(rng.standard_normal())
    return {"loss": loss, "optimum_log2_lr": optimum}
