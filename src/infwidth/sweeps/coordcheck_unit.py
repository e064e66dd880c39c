"""Unit of work: one point (one width, one seed) of a coordinate check.

Trains the width-``width`` MLP of a named parametrization for ``steps`` steps on one fixed random batch
and returns the RMS coordinate change of every layer's activations and of the output after each step
(SPEC-free statement: Tensor Programs IV, section 7's "coordinate check"; the sizes of ``Delta x^l``
should scale like ``n^0`` in muP).
"""

from __future__ import annotations

from dataclasses import dataclass

from infwidth.errors import UserError


@dataclass(frozen=True)
class CoordPointConfig:
    param: str = "mup"  # mup | sp | ntp
    width: int = 64
    seed: int = 0
    depth: int = 3
    steps: int = 3
    lr: float = 0.1
    optimizer: str = "sgd"  # sgd | adam
    d_in: int = 32
    d_out: int = 10
    batch: int = 32
    device: str = "cpu"


def coordcheck_point(config: CoordPointConfig) -> dict[str, object]:
    """RMS of ``x^l(t) - x^l(0)`` (l = 1..L) and ``f(t) - f(0)`` after each of ``steps`` steps."""
    import torch

    from infwidth import parametrizations
    from infwidth.device import resolve_device, torch_threads

    if config.param not in ("mup", "sp", "ntp"):
        raise UserError(f"param must be mup, sp or ntp, got {config.param!r}")
    if config.optimizer not in ("sgd", "adam"):
        raise UserError(f"optimizer must be sgd or adam, got {config.optimizer!r}")
    device = resolve_device(config.device)
    p = getattr(parametrizations, config.param)(config.depth)
    with torch_threads(1):
        gen = torch.Generator().manual_seed(1_000_003 * config.seed + 17)
        x = torch.randn(config.batch, config.d_in, generator=gen).to(device)
        y = torch.randint(0, config.d_out, (config.batch,), generator=gen).to(device)
        net = p.mlp(config.width, config.d_in, config.d_out, seed=config.seed, device=device)
        opt = net.sgd(config.lr) if config.optimizer == "sgd" else net.adam(config.lr)
        with torch.no_grad():
            f0, acts0 = net.forward_with_activations(x)
        sizes = []
        for _ in range(config.steps):
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                f, acts = net.forward_with_activations(x)
                row = {f"dx{k}": float((acts[f"x{k}"] - acts0[f"x{k}"]).pow(2).mean().sqrt()) for k in range(1, config.depth + 1)}
                row["df"] = float((f - f0).pow(2).mean().sqrt())
            sizes.append(row)
    last = sizes[-1]
    return {"sizes": sizes, **{f"{k}_last": v for k, v in last.items()}}
