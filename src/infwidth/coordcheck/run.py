"""One point of a coordinate check (one width, one seed) and the harness: a loop over the points.

:func:`run_point` takes a picklable :class:`.CoordCheckConfig` and returns a JSON-serialisable dict,
so points can be handed to workers or resumed one by one; :func:`run_coordcheck` loops over them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from infwidth.coordcheck._lowrank import (
    _first_layer_image,
    _lowrank_sgd,
    _NestedNoise,
    measure_sgd_lowrank,
)
from infwidth.coordcheck.config import CoordCheckConfig
from infwidth.coordcheck.measure import Divergence, measure
from infwidth.coordcheck.predict import predicted_sizes, quantity_names
from infwidth.coordcheck.report import BASE_TOLERANCE, CoordCheck
from infwidth.device import torch_threads
from infwidth.errors import UserError
from infwidth.networks.mlp import AbcMLP, abc_adam_exponents, resolve_nonlinearity
from infwidth.parametrizations.abc import Parametrization


def _shapes(n: int, d_in: int, d_out: int, depth: int) -> list[tuple[int, int]]:
    return [(n, d_in)] + [(n, n)] * (depth - 1) + [(d_out, n)]


@lru_cache(maxsize=1)
def _noise(seed: int, dims: tuple[tuple[int, int], ...], dtype: torch.dtype, first_rank: int | None) -> _NestedNoise:
    """The seed's Gaussians at the largest width, kept for the next point (the loop runs widths inside seeds)."""
    return _NestedNoise(seed, list(dims), dtype, first_rank)


def _batch(config: CoordCheckConfig, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator(device="cpu").manual_seed(10_000 + seed)
    x = torch.randn(config.batch, config.d_in, generator=gen, dtype=config.torch_dtype).to(device)
    if config.loss == "cross_entropy":
        y = torch.randint(0, config.d_out, (config.batch,), generator=gen).to(device)
    else:
        y = torch.randn(config.batch, config.d_out, generator=gen, dtype=config.torch_dtype).to(device)
    return x, y


def run_point(config: CoordCheckConfig, width: int, seed: int) -> dict[str, Any]:
    """Train ``config``'s MLP at one width with one seed; RMS of every quantity at every step.

    Returns ``{"width", "seed", "names", "sizes": [[...] per step] (None where not finite),
    "divergence": {"step", "layer"} or None}``. Same numbers as the harness (which calls it).
    """
    from infwidth.networks.practical import PracticalMLP, form_scales

    p, dtype, device = config.parametrization, config.torch_dtype, torch.device(config.device)
    x, y = _batch(config, seed, device)
    dims = tuple(_shapes(config.widths[-1], config.d_in, config.d_out, p.depth))
    fast = config.optimizer == "sgd" and config.lowrank and config.nested and device.type == "cpu"
    noise = _noise(seed, dims, dtype, min(config.d_in, config.batch) if fast else None) if config.nested else None
    n = int(width)
    if fast:
        assert noise is not None  # no module needed: the nested Gaussians' top-left blocks are the init
        scales, _ = form_scales(p, n, config.d_in, config.form)
        zs = [noise(k, shape) for k, shape in enumerate(_shapes(n, config.d_in, config.d_out, p.depth), 1) if k > 1]
        sizes, div = _lowrank_sgd(
            [None, *zs], scales, resolve_nonlinearity(config.nonlinearity), x, y, config.lr, config.steps,  # type: ignore[list-item]
            config.loss, init_factor=[sc.init_std for sc in scales], first_image=_first_layer_image(x, noise, n),
        )
    else:
        cls = AbcMLP if config.form == "abc" else PracticalMLP
        net = cls(p, n, config.d_in, config.d_out, nonlinearity=config.nonlinearity, dtype=dtype, device=device,
                  seed=seed * 7919 + n, noise=noise)
        if config.optimizer == "sgd" and config.lowrank:
            sizes, div = measure_sgd_lowrank(net, x, y, config.lr, config.steps, config.loss)
        else:
            if config.optimizer == "sgd":
                optim = net.sgd(config.lr)
            elif config.adam_c is not None:
                optim = net.adam(config.lr, exponents=config.adam_c)  # type: ignore[call-arg]
            else:
                optim = net.adam(config.lr)
            sizes, div = measure(net, x, y, optim, config.steps, config.loss)
    return {
        "width": n,
        "seed": int(seed),
        "names": quantity_names(p.depth),
        "sizes": [[float(v) if np.isfinite(v) else None for v in row] for row in sizes],
        "divergence": None if div is None else {"step": int(div[0]), "layer": div[1]},
    }


def assemble(config: CoordCheckConfig, points: Sequence[dict[str, Any]]) -> CoordCheck:
    """The :class:`.CoordCheck` of a config from its points (any order; every width x seed once)."""
    p = config.parametrization
    names = quantity_names(p.depth)
    seeds = config.seed_list
    sizes = np.full((len(config.widths), len(seeds), config.steps + 1, len(names)), np.nan)
    divergences = []
    for pt in sorted(points, key=lambda d: (d["seed"], d["width"])):
        i, s = config.widths.index(pt["width"]), seeds.index(pt["seed"])
        sizes[i, s] = np.array([[np.nan if v is None else v for v in row] for row in pt["sizes"]], dtype=float)
        if pt["divergence"] is not None:
            divergences.append(Divergence(pt["width"], pt["seed"], pt["divergence"]["step"], pt["divergence"]["layer"]))
    adam_c = config.adam_c
    if config.optimizer == "adam" and adam_c is None:
        adam_c = abc_adam_exponents(p)
    return CoordCheck(
        parametrization=p, widths=list(config.widths), seeds=seeds, steps=config.steps, optimizer=config.optimizer,
        lr=config.lr, sizes=sizes, names=names,
        predicted=predicted_sizes(p, config.steps, config.optimizer, adam_c, config.nonlinearity),
        divergences=divergences, config=config.as_dict(), base_tolerance=config.base_tolerance, fit_from=config.fit_from,
    )


def run_config(
    config: CoordCheckConfig, progress: Callable[[str], None] | None = None, threads: int | None = 1
) -> CoordCheck:
    """The harness: :func:`run_point` for every seed and width (widths inside seeds), then the report."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UserError(f"threads must be a positive integer or None, got {threads!r}")
    points = []
    with torch_threads(threads):
        try:
            for seed in config.seed_list:
                for n in config.widths:
                    if progress:
                        progress(f"seed {seed} width {n}")
                    points.append(run_point(config, n, seed))
        finally:
            _noise.cache_clear()  # do not keep the largest width's Gaussians alive
    return assemble(config, points)


def run_coordcheck(
    p: Parametrization,
    widths: Sequence[int],
    *,
    steps: int = 3,
    seeds: int = 3,
    optimizer: str = "sgd",
    lr: float = 0.1,
    d_in: int = 32,
    d_out: int = 10,
    batch: int = 32,
    nonlinearity: str = "relu",
    loss: str | None = None,
    form: str = "abc",
    dtype: torch.dtype | str = torch.float32,
    device: Any = "cpu",
    seed: int = 0,
    nested: bool = True,
    lowrank: bool = True,
    base_tolerance: float = BASE_TOLERANCE,
    fit_from: int | None = None,
    progress: Callable[[str], None] | None = None,
    threads: int | None = 1,
    adam_c: Sequence[Any] | None = None,
) -> CoordCheck:
    """Train ``p``'s MLP at every width for ``steps`` steps on one random batch, ``seeds`` times.

    Keyword form of :class:`.CoordCheckConfig` + :func:`run_config`. ``threads``: torch CPU threads
    during the check (restored after); 1 by default because the check is many small ops, which a
    second thread slows down several-fold on a busy machine; None keeps torch's.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UserError(f"threads must be a positive integer or None, got {threads!r}")
    config = CoordCheckConfig(
        p, tuple(int(w) for w in widths), steps=steps, seeds=seeds, optimizer=optimizer, lr=lr, d_in=d_in, d_out=d_out,
        batch=batch, nonlinearity=nonlinearity, loss=loss, form=form, dtype=str(dtype), device=str(device), seed=seed,
        nested=nested, lowrank=lowrank, adam_c=None if adam_c is None else tuple(adam_c), base_tolerance=base_tolerance,
        fit_from=fit_from,
    )
    return run_config(config, progress=progress, threads=threads)
