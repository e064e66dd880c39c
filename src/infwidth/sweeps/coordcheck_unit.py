"""Unit of work: one point (one width, one seed) of a coordinate check, via :func:`infwidth.coordcheck.run_point`.

A flat config (a named parametrization instead of a Parametrization object) so that width and seed
are sweep axes. ``widths`` is the whole check's width list: the nested Gaussians of every width are
the top-left blocks of those at the largest, so a point's numbers equal the harness's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CoordPointConfig:
    param: str = "mup"  # a preset of infwidth.parametrizations: mup, sp, ntp, ...
    width: int = 64
    seed: int = 0
    widths: tuple[int, ...] = (64, 128, 256, 512)
    depth: int = 3
    steps: int = 3
    lr: float = 0.1
    optimizer: str = "sgd"
    d_in: int = 32
    d_out: int = 10
    batch: int = 32
    nonlinearity: str = "relu"
    device: str = "cpu"


def coordcheck_point(config: CoordPointConfig) -> dict[str, object]:
    """RMS size of every quantity (h^l, x^l, f and their changes) at every step; ``df_last``: RMS of Delta f at the end."""
    from infwidth import parametrizations
    from infwidth.coordcheck import CoordCheckConfig, run_point
    from infwidth.device import torch_threads
    from infwidth.errors import UserError

    preset = getattr(parametrizations, config.param, None)
    if not callable(preset):
        raise UserError(f"unknown parametrization {config.param!r}; use a preset of infwidth.parametrizations (mup, sp, ntp)")
    widths = tuple(sorted(set(config.widths) | {config.width}))
    cfg = CoordCheckConfig(parametrization=preset(config.depth), widths=widths, steps=config.steps, seeds=1,
                           optimizer=config.optimizer, lr=config.lr, d_in=config.d_in, d_out=config.d_out,
                           batch=config.batch, nonlinearity=config.nonlinearity, device=config.device, seed=config.seed)
    with torch_threads(1):
        point = run_point(cfg, config.width, config.seed)
    last = dict(zip(point["names"], point["sizes"][-1], strict=True))
    return {**point, "df_last": last.get("df")}
