"""Unit of work: one MAML run (first-order MAML on Omniglot: a muP width, the muP limit, or a kernel baseline).

The config is the experiment's own :class:`infwidth.experiments.maml.config.MamlConfig`, nested as
``config`` (a sweep sets ``"config.width"``, ``"config.step_size"``, ``"config.seed"``, ... with dotted
axes; values are taken as given: :func:`infwidth.experiments.maml.config.make_config`'s per-width presets
are not applied), plus where the data is read from: ``data = "sample"`` (the sample shipped with the
package), an ``.npz`` file in the sample's layout, or the data directory holding Omniglot
(``"data"``: ``$INFWIDTH_DATA``). The splits are cached per process. The run directory is temporary; the
result is the experiment's record: meta-test accuracy (``test_acc``, its 95% interval), loss, best epoch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from infwidth.errors import UserError
from infwidth.experiments.maml.config import MamlConfig


@dataclass(frozen=True)
class MamlPoint:
    """``config``: the run; ``data``: ``"sample"``, an ``.npz`` in the sample's layout, ``"data"`` or a directory."""

    config: MamlConfig = field(default_factory=MamlConfig)
    data: str = "sample"
    device: str = "auto"
    threads: int | None = 1


@functools.lru_cache(maxsize=2)
def _splits(data: str) -> dict[str, Any]:
    from pathlib import Path

    from infwidth.experiments.maml.data import load_split, sample_splits

    if data == "sample":
        return sample_splits()
    if data.endswith(".npz"):
        if not Path(data).is_file():
            raise UserError(f"`data` {data!r} does not exist; give 'sample', an .npz in the sample's layout or a data directory")
        return sample_splits(data)
    root = None if data == "data" else data
    return {split: load_split(split, root) for split in ("train", "val", "test")}


def train_maml(point: MamlPoint) -> dict[str, Any]:
    """Meta-train ``point.config`` (best meta-val state kept) and meta-test it; the run's results."""
    import tempfile
    from pathlib import Path

    from infwidth.device import torch_threads
    from infwidth.experiments.maml.experiment import train

    if not isinstance(point.data, str) or not point.data:
        raise UserError(f"`data` must be 'sample', an .npz path, 'data' or a data directory, got {point.data!r}")
    splits = _splits(point.data)
    with tempfile.TemporaryDirectory(prefix="infwidth-maml-") as tmp, torch_threads(point.threads):
        results = train(point.config, Path(tmp) / "run", device=point.device, show_progress=False, splits=splits)
    acc = results["test_acc"]
    return {**results, "test_error": 1.0 - acc}
