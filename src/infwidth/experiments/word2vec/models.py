"""CBOW with negative sampling as two matrices, for every width and its limits.

A model is an embedding matrix ``emb`` (V x n, the first layer: the input is a one-hot word) and an
output matrix ``out`` (V x n, the readout). The score of a context mean ``h`` and a word ``w`` is the
plain dot product ``<h, out[w]>``. What changes between parametrizations is only the init and
whether the embeddings train (see docs/word2vec.md for the derivations):

- ``mup``:   emb ~ N(0, 1/n) (rows of norm ~1), out = 0, one learning rate for every width.
- ``limit``: the exact muP limit, a width-V coefficient model: emb = I, out = 0.
- ``sp``:    standard parametrization for contrast: emb ~ N(0, 1), out ~ N(0, 1/n), same rate.
- ``ntk``:   the kernel regime: the embeddings never move (identity in the limit, or frozen random
  N(0, 1/n) rows at width n) and only the output vectors train.

:func:`cbow_update` applies one vectorized SGD step for a minibatch of target words; with batch size
1 it is the original word2vec update (weight decay on touched rows, context gradient divided by the
context size).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from infwidth.errors import UserError

KINDS = ("mup", "sp", "limit", "ntk")

# Gathered rows per chunk, in floats: bounds the temporary memory of one step (~64 MB in float32).
CHUNK_FLOATS = 1 << 24


# Row scales below this are folded back into their rows (keeps the stored rows far from overflow).
MIN_SCALE = 1e-4


@dataclass
class CBOWModel:
    """Embeddings (V x n) and output vectors (V x n); ``train_emb`` False freezes the embeddings.

    Rows are stored with a per-row scale (``emb[i] = emb_scale[i] * emb_rows[i]``) so that weight
    decay of a touched row costs one multiplication instead of a pass over a length-n row (for the
    limit n = V). Use :meth:`embeddings` / :meth:`output_vectors` for the actual matrices.
    """

    emb_rows: torch.Tensor
    out_rows: torch.Tensor
    kind: str
    train_emb: bool = True
    emb_scale: torch.Tensor | None = None
    out_scale: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for name in ("emb_scale", "out_scale"):
            if getattr(self, name) is None:
                rows = self.emb_rows
                setattr(self, name, torch.ones(rows.shape[0], dtype=rows.dtype, device=rows.device))

    @classmethod
    def from_matrices(cls, emb: torch.Tensor, out: torch.Tensor, kind: str = "mup", train_emb: bool = True):
        """A model starting from explicit matrices (copies are not made: they train in place)."""
        return cls(emb, out, kind, train_emb)

    @property
    def vocab_size(self) -> int:
        return self.emb_rows.shape[0]

    @property
    def width(self) -> int:
        return self.emb_rows.shape[1]

    def embeddings(self) -> torch.Tensor:
        return self.emb_rows * self.emb_scale[:, None]

    def output_vectors(self) -> torch.Tensor:
        return self.out_rows * self.out_scale[:, None]

    def state(self) -> dict:
        return {
            "emb_rows": self.emb_rows, "out_rows": self.out_rows, "kind": self.kind, "train_emb": self.train_emb,
            "emb_scale": self.emb_scale, "out_scale": self.out_scale,
        }

    @classmethod
    def from_state(cls, state: dict) -> CBOWModel:
        return cls(**state)


def parse_model_spec(spec: str) -> tuple[str, int | None]:
    """``"mup:256"`` -> ("mup", 256); ``"limit"`` -> ("limit", None); ``"ntk"`` / ``"ntk:256"``."""
    kind, _, width = spec.strip().partition(":")
    if kind not in KINDS:
        raise UserError(f"unknown model {spec!r}; use mup:WIDTH, sp:WIDTH, limit, ntk or ntk:WIDTH")
    if kind == "limit":
        if width:
            raise UserError(f"the limit has width V, not {width}; write 'limit' without a width")
        return kind, None
    if not width:
        if kind == "ntk":
            return kind, None
        raise UserError(f"model {spec!r} needs a width, e.g. {kind}:256")
    if not width.isdigit() or int(width) < 1:
        raise UserError(f"width in {spec!r} must be a positive integer, e.g. {kind}:256")
    return kind, int(width)


def model_width(spec: str, vocab_size: int) -> int:
    """Width of the matrices ``spec`` allocates (V for the limit and the NTK limit)."""
    _, width = parse_model_spec(spec)
    return vocab_size if width is None else width


def build_model(
    spec: str,
    vocab_size: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> CBOWModel:
    """Allocate and initialize the model named by ``spec`` (see :func:`parse_model_spec`)."""
    kind, width = parse_model_spec(spec)
    gen = torch.Generator().manual_seed(seed)
    V = vocab_size
    if kind in ("limit", "ntk") and width is None:
        emb = torch.eye(V, dtype=dtype, device=device)
        return CBOWModel(emb, torch.zeros(V, V, dtype=dtype, device=device), kind, train_emb=kind == "limit")
    n = int(width)
    emb = _random_embeddings(kind, V, n, gen, dtype)  # drawn first: sp's output vectors follow
    if kind == "sp":
        out = torch.randn(V, n, generator=gen, dtype=dtype) / math.sqrt(n)
    else:  # mup, or ntk with frozen random embeddings of width n
        out = torch.zeros(V, n, dtype=dtype)
    return CBOWModel(emb.to(device), out.to(device), kind, train_emb=kind != "ntk")


def _random_embeddings(kind: str, V: int, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Width-``n`` starting embeddings: N(0, 1) for sp, N(0, 1/n) (rows of norm ~1) otherwise."""
    emb = torch.randn(V, n, generator=gen, dtype=dtype)
    return emb if kind == "sp" else emb / math.sqrt(n)


def initial_embeddings(
    spec: str, vocab_size: int, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The embeddings :func:`build_model` starts ``spec`` from (regenerated from the seed)."""
    kind, width = parse_model_spec(spec)
    if width is None:
        return torch.eye(vocab_size, dtype=dtype)
    return _random_embeddings(kind, vocab_size, width, torch.Generator().manual_seed(seed), dtype)


def _rows_per_chunk(row_floats: int) -> int:
    return max(1, CHUNK_FLOATS // max(1, row_floats))


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():  # torch flags CSR support as beta on every construction
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, shape, check_invariants=False)


def _bag(mat: torch.Tensor, cols: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Row i of the result is ``sum_j weights[j] * mat[cols[j]]`` over bag i (CSR-style offsets)."""
    return torch.nn.functional.embedding_bag(cols, mat, offsets, mode="sum", per_sample_weights=weights)


def _group_by_row(ids: torch.Tensor, rows: torch.Tensor, vals: torch.Tensor):
    """Group pairs (id, row, val) by id: (unique ids, counts, CSR crow, CSR cols, CSR vals) so that
    the CSR matrix (len(unique) x batch) times X sums ``val * X[row]`` for every unique id."""
    uniq, inv, counts = torch.unique(ids, return_inverse=True, return_counts=True)
    order = torch.argsort(inv, stable=True)
    crow = torch.zeros(len(uniq) + 1, dtype=torch.int64, device=ids.device)
    crow[1:] = torch.cumsum(counts, 0)
    return uniq, counts, crow, rows[order], vals[order]


def _update_rows(
    rows_mat: torch.Tensor, scale: torch.Tensor, ids: torch.Tensor, rows: torch.Tensor, vals: torch.Tensor,
    X: torch.Tensor, decay: float,
) -> None:
    """For every id u: ``M[u] <- decay**count(u) * M[u] + sum val * X[row]`` where ``M = scale * rows_mat``.

    The decay only rescales ``scale[u]``; the sum is added to the stored rows divided by the new
    scale. Done in chunks of rows so temporaries stay bounded.
    """
    uniq, counts, crow, cols, vals = _group_by_row(ids, rows, vals)
    if decay != 1.0:
        scale[uniq] *= torch.pow(torch.tensor(decay, dtype=scale.dtype, device=scale.device), counts.to(scale.dtype))
    vals = vals / scale[torch.repeat_interleave(uniq, counts)]
    step = _rows_per_chunk(rows_mat.shape[1])
    for a in range(0, len(uniq), step):
        b = min(len(uniq), a + step)
        lo, hi = int(crow[a]), int(crow[b])
        rows_mat.index_add_(0, uniq[a:b], _bag(X, cols[lo:hi], crow[a:b] - lo, vals[lo:hi]))
    small = uniq[scale[uniq] < MIN_SCALE]
    if len(small):
        rows_mat[small] *= scale[small, None]
        scale[small] = 1.0


@torch.no_grad()
def cbow_update(
    model: CBOWModel,
    ctx: torch.Tensor,
    ctx_mask: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    lr: float,
    weight_decay: float = 0.0,
) -> tuple[float, int]:
    """One SGD step of CBOW with negative sampling for a minibatch of target words.

    ``ctx`` (B x C) holds context word ids, ``ctx_mask`` (B x C, bool) which of them exist,
    ``targets`` (B,) the centre words, ``negatives`` (B x K) sampled words (a negative equal to its
    target is skipped, as in word2vec). Every quantity is computed from the parameters before the
    step; then each touched row decays by ``1 - lr * weight_decay`` per touch and receives its
    gradient. Sparse sums (``embedding_bag``) read only the rows a batch touches, so the width-V
    limit costs O(rows touched x V), never O(V^2). Returns (summed loss, number of targets with a context).
    """
    emb, out = model.emb_rows, model.out_rows
    emb_scale, out_scale = model.emb_scale, model.out_scale
    dev, dtype = emb.device, emb.dtype
    cw = ctx_mask.sum(1)
    keep = cw > 0
    if not bool(keep.all()):
        ctx, ctx_mask, targets, negatives, cw = ctx[keep], ctx_mask[keep], targets[keep], negatives[keep], cw[keep]
    B = ctx.shape[0]
    if B == 0:
        return 0.0, 0
    V = emb.shape[0]
    inv_cw = 1.0 / cw.to(dtype)

    # Context means H: row i sums emb[c] / cw over its context words (duplicates add up).
    ctx_sorted, _ = torch.sort(torch.where(ctx_mask, ctx, V), dim=1)
    ctx_cols = ctx_sorted[ctx_sorted < V]
    ctx_rows = torch.repeat_interleave(torch.arange(B, device=dev), cw)
    crow_ctx = torch.zeros(B + 1, dtype=torch.int64, device=dev)
    crow_ctx[1:] = torch.cumsum(cw, 0)
    H = _bag(emb, ctx_cols, crow_ctx[:-1], inv_cw[ctx_rows] * emb_scale[ctx_cols])

    # Scores of the target and its negatives, sorted per row (CSR order) with labels and weights.
    ids = torch.cat([targets[:, None], negatives], dim=1)
    K1 = ids.shape[1]
    ids, perm = torch.sort(ids, dim=1)
    label = (perm == 0).to(dtype)
    weight = ((ids != targets[:, None]) | (perm == 0)).to(dtype)
    crow = torch.arange(0, B * K1 + 1, K1, device=dev)
    cols = ids.reshape(-1)
    col_scale = out_scale[cols]
    if K1 <= V:
        pattern = _csr(crow, cols, torch.zeros(B * K1, dtype=dtype, device=dev), (B, V))
        s = torch.sparse.sampled_addmm(pattern, H, out.t(), beta=0.0).values()
    else:  # more samples per row than words: torch's sampled product refuses; gather instead
        s = (out[ids] * H[:, None, :]).sum(-1).reshape(-1)
    s = (s * col_scale).view(B, K1)
    g = (label - torch.sigmoid(s)) * weight * lr
    logp = torch.nn.functional.logsigmoid(torch.where(label > 0, s, -s))
    loss = float(-(logp * weight).sum(dtype=torch.float64))
    g_flat = g.reshape(-1)
    neu1e = _bag(out, cols, crow[:-1], g_flat * col_scale)  # uses the old output vectors

    decay = 1.0 - lr * weight_decay
    rows = torch.arange(B, device=dev).repeat_interleave(K1)
    touched = weight.reshape(-1) > 0
    _update_rows(out, out_scale, cols[touched], rows[touched], g_flat[touched], H, decay)
    if model.train_emb:
        _update_rows(emb, emb_scale, ctx_cols, ctx_rows, inv_cw[ctx_rows], neu1e, decay)
    return loss, B


def reference_update(
    emb: np.ndarray,
    out: np.ndarray,
    ctx: list[int],
    target: int,
    negatives: list[int],
    lr: float,
    weight_decay: float = 0.0,
    train_emb: bool = True,
) -> None:
    """One word at a time, written like the original C loop (numpy arrays, updated in place).

    The slow, obviously-correct reference that the vectorized :func:`cbow_update` is tested against.
    """
    if not ctx:
        return
    h = np.mean([emb[c] for c in ctx], axis=0)
    neu1e = np.zeros_like(h)
    decay = 1.0 - lr * weight_decay
    for d, w in enumerate([target, *negatives]):
        if d > 0 and w == target:
            continue
        label = 1.0 if d == 0 else 0.0
        f = float(h @ out[w])
        g = (label - 1.0 / (1.0 + math.exp(-f))) * lr
        neu1e += g * out[w]
        out[w] = out[w] * decay + g * h
    if train_emb:
        for c in ctx:
            emb[c] = emb[c] * decay + neu1e / len(ctx)
