"""N-way K-shot sampling: reproducible, well-formed, and clear errors for impossible task shapes."""

from __future__ import annotations

import pytest
import torch

from infwidth.errors import UserError
from infwidth.experiments.maml.tasks import TaskSampler


def test_batches_are_reproducible_and_well_formed(synthetic_classes):
    classes = synthetic_classes(num_classes=10, examples=6)
    s = TaskSampler(classes, ways=4, shots=2, queries=3, seed=7)
    b = s.batch(3, 5)
    assert b.support_x.shape == (5, 8, 784) and b.query_x.shape == (5, 12, 784)
    assert torch.equal(b.support_y[0], torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    again = TaskSampler(classes, ways=4, shots=2, queries=3, seed=7).batch(3, 5)
    assert torch.equal(b.support_x, again.support_x) and torch.equal(b.query_index, again.query_index)
    assert not torch.equal(b.support_x, s.batch(4, 5).support_x)
    assert not torch.equal(b.support_x, TaskSampler(classes, 4, 2, 3, seed=8).batch(3, 5).support_x)
    cls, ex = s.indices(3, 5)
    for t in range(5):
        assert len(set(cls[t])) == 4  # distinct classes
        for w in range(4):
            assert len(set(ex[t, w])) == 5  # support and query examples are distinct
    # query_index points at the query images in the pool
    assert torch.equal(s.pool[b.query_index[1]], b.query_x[1])
    assert b.support_x.min() >= 0 and b.support_x.max() <= 1


def test_impossible_tasks_give_one_line_errors(synthetic_classes):
    classes = synthetic_classes(num_classes=6, examples=4)
    with pytest.raises(UserError, match="5-way|7-way") as e:
        TaskSampler(classes, ways=7, shots=1, queries=1)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="examples per class"):
        TaskSampler(classes, ways=5, shots=3, queries=2)
    with pytest.raises(UserError, match="ways >= 2"):
        TaskSampler(classes, ways=5, shots=0, queries=1)
