"""N-way K-shot task sampling: reproducible from (seed, batch index), so runs resume exactly.

A task picks ``ways`` distinct classes, then ``shots + queries`` distinct examples of each; the
labels 0..ways-1 follow the random order of the picked classes (as torchmeta's ``Categorical``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from infwidth.errors import UserError
from infwidth.experiments.maml.data import OmniglotClasses, to_inputs


@dataclass
class TaskBatch:
    """A meta-batch: support (T, ways*shots, D) / (T, ways*shots), query (T, ways*queries, D) / labels."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    query_index: torch.Tensor | None = None  # (T, ways*queries) flat ids class*examples + example

    @property
    def num_tasks(self) -> int:
        return int(self.support_x.shape[0])

    def to(self, device: torch.device | str) -> TaskBatch:
        moved = (t.to(device) for t in (self.support_x, self.support_y, self.query_x, self.query_y))
        return TaskBatch(*moved, query_index=None if self.query_index is None else self.query_index.to(device))


class TaskSampler:
    """Draws meta-batches of N-way K-shot tasks from a set of classes; ``batch(i)`` is a pure function of (seed, i)."""

    def __init__(
        self,
        classes: OmniglotClasses,
        ways: int = 5,
        shots: int = 1,
        queries: int = 1,
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if ways < 2 or shots < 1 or queries < 1:
            raise UserError(f"need ways >= 2, shots >= 1, queries >= 1 (got {ways}, {shots}, {queries}); fix the task shape")
        if ways > classes.num_classes:
            raise UserError(f"{ways}-way tasks need {ways} classes but the split has {classes.num_classes}; use fewer ways")
        if shots + queries > classes.examples_per_class:
            raise UserError(
                f"{shots} shots + {queries} queries need {shots + queries} examples per class but classes have "
                f"{classes.examples_per_class}; use fewer shots or queries"
            )
        self.classes, self.ways, self.shots, self.queries = classes, ways, shots, queries
        self.seed, self.dtype = seed, dtype
        self._inputs = to_inputs(classes.images, dtype)  # (C, E, D)

    def indices(self, batch_index: int, num_tasks: int) -> tuple[np.ndarray, np.ndarray]:
        """(tasks, ways) class ids and (tasks, ways, shots + queries) example ids of one meta-batch."""
        rng = np.random.default_rng([self.seed, batch_index])
        n_cls, n_ex = self.classes.num_classes, self.classes.examples_per_class
        cls = np.stack([rng.choice(n_cls, size=self.ways, replace=False) for _ in range(num_tasks)])
        ex = np.stack(
            [[rng.choice(n_ex, size=self.shots + self.queries, replace=False) for _ in range(self.ways)] for _ in range(num_tasks)]
        )
        return cls, ex

    def batch(self, batch_index: int, num_tasks: int) -> TaskBatch:
        """The ``batch_index``-th meta-batch of ``num_tasks`` tasks (same every time it is asked for)."""
        cls, ex = self.indices(batch_index, num_tasks)
        x = self._inputs[torch.as_tensor(cls)[:, :, None], torch.as_tensor(ex)]  # (T, ways, S+Q, D)
        labels = torch.arange(self.ways)[None, :, None].expand(num_tasks, self.ways, self.shots + self.queries)
        k = self.shots

        def flat(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(num_tasks, -1, *t.shape[3:])

        pool_id = torch.as_tensor(cls)[:, :, None] * self.classes.examples_per_class + torch.as_tensor(ex)
        return TaskBatch(
            flat(x[:, :, :k]), flat(labels[:, :, :k]), flat(x[:, :, k:]), flat(labels[:, :, k:]), flat(pool_id[:, :, k:])
        )

    @property
    def pool(self) -> torch.Tensor:
        """All inputs as (classes * examples, D); ``query_index`` of a batch indexes this."""
        return self._inputs.reshape(-1, self._inputs.shape[-1])
