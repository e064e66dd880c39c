"""Run configuration: the model, the task shape, FOMAML settings and the schedule, with two profiles.

``default`` is a few-minute version of the paper's schedule; ``paper`` is the paper's schedule (docs/maml.md)
(100 epochs x 100 meta-batches of 32 tasks, 100 meta-val and 100 meta-test meta-batches).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from infwidth.errors import UserError
from infwidth.experiments.maml.kernels import KERNELS
from infwidth.experiments.maml.models import preset_for

MODELS = ("mup", *KERNELS)

PROFILES: dict[str, dict[str, int]] = {
    "default": {"epochs": 20, "batches": 25, "val_batches": 10, "test_batches": 50},
    "paper": {"epochs": 100, "batches": 100, "val_batches": 100, "test_batches": 100},
}


@dataclass(frozen=True)
class MamlConfig:
    """Everything that determines a run (saved in run.json; a resumed run must match it)."""

    model: str = "mup"  # "mup" (finite width or the limit) or a kernel baseline
    width: int | None = None  # None = the exact muP limit (width 789)
    sigma_u: float = 1.0
    sigma_v: float = 0.03125
    alpha: float = 1.0
    sigma_b: float = 1.0  # kernel baselines only: first-layer bias std of the ReLU net
    meta_lr: float = 0.1
    ways: int = 5
    shots: int = 1
    queries: int = 1
    step_size: float = 0.4
    inner_steps: int = 1
    test_steps: int = 1
    meta_batch: int = 32
    clip: float = 0.5
    epochs: int = 20
    batches: int = 25
    val_batches: int = 10
    test_batches: int = 50
    seed: int = 0
    dtype: str = "float32"
    simulate: bool = False  # finite widths: train the exact width-789 stand-in of the width-n net

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise UserError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        positive = {k: getattr(self, k) for k in ("ways", "shots", "queries", "meta_batch", "epochs", "batches",
                                                   "val_batches", "test_batches")}
        bad = [k for k, v in positive.items() if v < 1]
        if bad:
            raise UserError(f"{bad[0].replace('_', '-')} must be >= 1 (got {positive[bad[0]]}); pass a positive number")
        if self.inner_steps < 0 or self.test_steps < 0:
            raise UserError("inner and test steps must be >= 0; pass e.g. `test_steps=1`")
        if self.dtype not in ("float32", "float64"):
            raise UserError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.simulate and (self.model != "mup" or self.width is None):
            raise UserError("`simulate` applies to finite muP widths only; drop it or pass `width=N`")
        if self.step_size <= 0 or self.meta_lr < 0:
            raise UserError("step size must be > 0 and meta-lr >= 0; pass positive rates")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        if self.model != "mup":
            return self.model
        return "muP limit" if self.width is None else f"width {self.width}"


def make_config(model: str = "mup", width: int | None = None, profile: str = "default", **overrides: Any) -> MamlConfig:
    """A config from a profile and, for muP nets, the paper's per-width preset; ``overrides`` win.

    Kernel baselines default to ``meta_lr = 0``: in function space the meta-gradient has zero mean
    (see docs/maml.md), so their result is the kernel adaptation from ``f0 = 0``.
    """
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    base: dict[str, Any] = dict(PROFILES[profile], model=model, width=width)
    if model == "mup":
        p = preset_for(width)
        base.update(meta_lr=p.meta_lr, sigma_u=p.sigma_u, sigma_v=p.sigma_v, alpha=p.alpha)
    else:
        if width is not None:
            raise UserError(f"the {model} baseline is an infinite-width kernel; drop `width`")
        base.update(meta_lr=0.0, sigma_u=1.0, sigma_v=1.0, alpha=0.0, dtype="float64")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return replace(MamlConfig(), **base)
