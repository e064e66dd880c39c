"""Fixtures for the word2vec tests: the real data directory, or a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from infwidth.errors import UserError


def _real_data(required: str) -> Path:
    from infwidth.datasets import data_root

    try:
        root = data_root()
    except UserError:
        root = None
    if root is None or not (root / required).is_file():
        pytest.skip("real data directory not found (set INFWIDTH_DATA)")
    return root


@pytest.fixture
def real_data():
    """Factory: ``real_data("analogy/questions-words.txt")`` -> the data root holding that file, else skip."""
    return _real_data
