"""Unit of work: one finite net of ``infwidth converge`` against its muP limit, via :func:`infwidth.studies.converge.run_point`.

A flat config (the study's fields plus ``width`` and ``index``) so that width, seed and learning
rate are sweep axes. ``widths`` is the study's width list (checked as the study checks it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvergeUnitConfig:
    model: str = "relu1"  # linear1, relu1, tanh1, linear-deep
    width: int = 64
    index: int = 0  # which of the study's finite nets (its seed derives from seed and index), < seeds
    seeds: int = 16
    widths: tuple[int, ...] = (16, 64, 256, 1024)
    depth: int = 3
    steps: int = 10
    lr: float | None = None
    batch: int = 4
    seed: int = 0
    device: str = "cpu"


def converge_point(config: ConvergeUnitConfig) -> dict[str, object]:
    """``f_sq`` / ``k_sq`` per step (squared output and relative kernel gaps to the limit); their last values."""
    from infwidth.errors import UserError
    from infwidth.studies.converge import ConvergenceConfig, ConvergencePoint, run_point

    study = ConvergenceConfig(model=config.model, depth=config.depth, steps=config.steps,
                              widths=tuple(sorted(set(config.widths) | {config.width})), seeds=config.seeds,
                              lr=config.lr, batch=config.batch, seed=config.seed, device=config.device)
    if not 0 <= config.index < config.seeds:
        raise UserError(f"index must lie in 0..seeds-1 = 0..{config.seeds - 1}, got {config.index}")
    point = run_point(ConvergencePoint(study, config.width, config.index))
    return {**point, "f_sq_last": point["f_sq"][-1], "k_sq_last": point["k_sq"][-1]}
