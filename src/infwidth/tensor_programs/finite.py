"""A program at finite width ``n``: sample its initial tensors, run it with torch, return its scalars."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from infwidth.errors import UserError, check_int
from infwidth.tensor_programs.program import (
    SCALAR,
    VECTOR,
    InitVectors,
    MatMul,
    Matrix,
    Moment,
    Nonlin,
    Program,
)


@dataclass
class FiniteRun:
    """Every scalar of one width-``n`` execution (0-dim tensors), in program order."""

    width: int
    scalars: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> float:
        return float(self.scalars[name])


def _psd_factor(cov: torch.Tensor) -> torch.Tensor:
    """``A`` with ``A A^T = cov`` (Cholesky, else a clipped eigendecomposition)."""
    chol, info = torch.linalg.cholesky_ex(cov)
    if int(info) == 0:
        return chol
    vals, vecs = torch.linalg.eigh(cov)
    return vecs * vals.clamp_min(0).sqrt()


def run_finite(
    program: Program,
    width: int,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    init: Mapping[str, torch.Tensor] | None = None,
) -> FiniteRun:
    """Execute ``program`` at width ``width``: matrices iid ``N(0, sigma^2/n)``, initial vectors
    iid rows of ``N(0, cov)``, drawn in program order from one CPU generator seeded by ``seed``.

    ``init`` supplies some initial tensors instead (``n x n`` matrices, length-``n`` vectors), e.g.
    the weights of a network to compare with.
    """
    from infwidth.device import resolve_device

    check_int(width, "width")
    if dtype not in (torch.float32, torch.float64):
        raise UserError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    dev = resolve_device(device, dtype) if device is None or device == "auto" else resolve_device(device)
    n = width
    init = dict(init or {})
    unknown = [k for k in init if program.kinds.get(k) not in ("matrix", VECTOR)]
    if unknown:
        raise UserError(f"init names {unknown} that are not initial matrices or vectors of the program")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    vals: dict[str, torch.Tensor] = {}
    scalars: dict[str, torch.Tensor] = {}
    last = program.last_use()

    def given(name: str, shape: tuple[int, ...]) -> torch.Tensor | None:
        if name not in init:
            return None
        t = torch.as_tensor(init[name])
        if tuple(t.shape) != shape:
            raise UserError(f"init[{name!r}] has shape {tuple(t.shape)}, expected {shape} at width {n}")
        return t.to(dtype=dtype, device=dev)

    for i, ins in enumerate(program.instructions):
        if isinstance(ins, Matrix):
            w = given(ins.out, (n, n))
            if w is None:
                w = (torch.randn(n, n, generator=gen, dtype=torch.float64) * (ins.sigma / math.sqrt(n))).to(dtype).to(dev)
            vals[ins.out] = w
        elif isinstance(ins, InitVectors):
            fac = _psd_factor(torch.tensor(ins.cov, dtype=torch.float64))
            z = torch.randn(n, len(ins.outs), generator=gen, dtype=torch.float64) @ fac.T
            for k, name in enumerate(ins.outs):
                v = given(name, (n,))
                vals[name] = z[:, k].to(dtype).to(dev) if v is None else v
        elif isinstance(ins, MatMul):
            w = vals[ins.matrix]
            vals[ins.out] = (w.mT if ins.transpose else w) @ vals[ins.arg]
        else:
            args = [vals[a] if program.kinds[a] == VECTOR else scalars[a] for a in ins.args]
            out = torch.as_tensor(ins.fn(*args), dtype=dtype, device=dev)
            if isinstance(ins, Moment):
                scalars[ins.out] = out.mean()
            elif program.kinds[ins.out] == SCALAR:
                scalars[ins.out] = out.reshape(())
            else:
                vals[ins.out] = out
        if isinstance(ins, (MatMul, Nonlin, Moment)):
            for a in (ins.arg,) if isinstance(ins, MatMul) else ins.args:
                if last.get(a) == i and program.kinds[a] == VECTOR:
                    vals.pop(a, None)
    return FiniteRun(n, scalars)


__all__ = ["FiniteRun", "run_finite"]
