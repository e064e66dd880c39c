"""What every infinite-width limit offers, so consumers dispatch through it instead of by hand.

A limit ``lim`` of a family of finite networks (Tensor Programs IV: the width-n net trained by SGD
converges to ``lim`` as n -> infinity) provides

* ``lim.sample(width, seed)``: a finite width-``width`` network (an ``nn.Module``) drawn from the
  limit's initial law, i.e. a member of the family that converges to it;
* ``lim.train(x, y, lr, steps, batch, eval_x, loss="mse")``: the limit's own SGD on ``(x, y)`` with
  rate ``lr`` and the cyclic minibatches of ``batch`` points (step ``t`` uses points
  ``tB .. tB + B - 1`` mod N), recorded on the held-out inputs ``eval_x`` at steps ``0..steps`` as one
  :class:`Trajectory`;
* ``lim.finite_trajectory(width, seed, x, y, lr, steps, batch, eval_x, loss="mse")``: the same record
  for the finite net ``lim.sample(width, seed)`` trained by the same SGD. The plain way is to train
  that module (``infwidth.limits.sgd.train_module``); a limit with an exact
  finite-width simulator (1-hidden-layer linear, deep linear) returns the simulator's, which is
  equal to the real net's (to float64 precision, or in law) and costs far less at large widths.

A new limit implements these three methods (see :class:`Limit`) and works with every consumer
(``infwidth.studies.converge``, the tour) without editing them. This module sits at the bottom of
``limits/``: it imports nothing from the project but torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass
class Trajectory:
    """Outputs ``f[t]`` (``(E, d_o)``) and kernels ``kernel[t]`` (``(E, E)``) on held-out inputs, t = 0..T.

    ``kernel`` is the feature kernel of the last hidden layer for feature-learning limits and the
    kernel that training follows (the NTK of the surviving layers) for kernel-regime ones. ``f_se``
    and ``kernel_se`` are standard errors when the limit is estimated by Monte Carlo.
    """

    f: torch.Tensor
    kernel: torch.Tensor
    f_se: torch.Tensor | None = None
    kernel_se: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)  # how it was computed (JSON-ready), set by the limit

    def cpu(self) -> Trajectory:
        """The same trajectory with ``f`` and ``kernel`` on the CPU (standard errors dropped)."""
        return Trajectory(self.f.cpu(), self.kernel.cpu(), info=self.info)


@runtime_checkable
class Limit(Protocol):
    """An infinite-width limit: finite samples of it, and its own SGD trajectory."""

    def sample(self, width: int, seed: int) -> torch.nn.Module:
        """A finite width-``width`` network from the limit's initial law (seeded)."""
        ...

    def train(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float,
        steps: int,
        batch: int,
        eval_x: torch.Tensor,
        loss: Any = "mse",
    ) -> Trajectory:
        """The limit trained by SGD (cyclic minibatches), recorded on ``eval_x`` at steps 0..steps."""
        ...

    def finite_trajectory(
        self,
        width: int,
        seed: int,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float,
        steps: int,
        batch: int,
        eval_x: torch.Tensor,
        loss: Any = "mse",
    ) -> Trajectory:
        """The trajectory of ``sample(width, seed)`` under the same SGD, recorded like :meth:`train`."""
        ...


@runtime_checkable
class KernelFunction(Protocol):
    """A kernel function ``(x1, x2=None, *, ntk=True) -> Kernels`` (fields ``nngp`` and ``ntk``)."""

    def __call__(self, x1: Any, x2: Any = None, *, ntk: bool = True) -> Any: ...


__all__ = ["KernelFunction", "Limit", "Trajectory"]
