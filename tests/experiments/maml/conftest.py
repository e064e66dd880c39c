"""Fixtures for the MAML tests: small synthetic classes (learnable, so accuracy can beat chance)."""

from __future__ import annotations

import pytest
import torch


def _synthetic_classes(num_classes: int = 12, examples: int = 6, seed: int = 0, side: int = 28):
    from infwidth.experiments.maml.data import OmniglotClasses

    g = torch.Generator().manual_seed(seed)
    proto = torch.rand(num_classes, 1, side, side, generator=g) < 0.2
    flip = torch.rand(num_classes, examples, side, side, generator=g) < 0.05
    images = (proto ^ flip).to(torch.uint8) * 255
    return OmniglotClasses(images, [f"synthetic/character{i:02d}" for i in range(num_classes)])


@pytest.fixture
def synthetic_classes():
    """Factory: ``synthetic_classes(num_classes, examples, seed)`` -> OmniglotClasses of noisy prototypes."""
    return _synthetic_classes
