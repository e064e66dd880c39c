"""Where real data lives: a path the user gives, else ``$INFWIDTH_DATA``, else a development default.

Small samples that the tour needs ship inside the package (``infwidth/_data``); see
``scripts/make_word2vec_sample.py`` and ``scripts/make_omniglot_sample.py`` for how they were cut
from the full data, and the README beside each sample for its source and licence.
"""

from __future__ import annotations

import os
from pathlib import Path

from infwidth.errors import UserError

ENV_VAR = "INFWIDTH_DATA"
_DEV_DEFAULTS = ("data", "../shared/data")
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"


def data_root(path: str | Path | None = None) -> Path:
    """Resolve the data directory (the layout of the project's data manifest).

    Order: ``path`` if given, then ``$INFWIDTH_DATA``, then ``./data`` or ``../shared/data``
    relative to the working directory (development convenience only).
    """
    if path is not None:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise UserError(f"data directory {root} does not exist; pass `data` pointing at it")
        return root
    env = os.environ.get(ENV_VAR)
    if env:
        return data_root(env)
    for candidate in _DEV_DEFAULTS:
        root = Path(candidate)
        if (root / "MANIFEST.md").is_file():
            return root
    raise UserError(f"no data directory found; pass `data=DIR` or set {ENV_VAR}")


def package_data(*parts: str) -> Path:
    """Path of a file shipped in ``infwidth/_data``."""
    return PACKAGE_DATA.joinpath(*parts)
