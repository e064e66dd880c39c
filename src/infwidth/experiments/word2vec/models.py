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

import ctypes
import math
import sys
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from infwidth.errors import UserError

KINDS = ("mup", "sp", "limit", "ntk")

# Gathered rows per chunk, in floats: bounds the temporary memory of the unfused step (~64 MB in float32).
CHUNK_FLOATS = 1 << 24

# Columns per block of the blocked storage (see CBOWModel): a block of the rows one step touches
# (a few thousand rows x 512 floats) stays in cache while the step works on it.
COLUMN_BLOCK = 512

# Row scales below this are folded back into their rows (keeps the stored rows far from overflow).
MIN_SCALE = 1e-4

STORAGES = ("float32", "float64", "bfloat16")

# Stored blocks at least this large ask the OS for 2 MB pages (Linux, CPU): a step reads a few
# thousand rows scattered over GBs, and with 4 KB pages nearly every row segment is a TLB miss
# (measured: gathering 2 KB row segments of a 3.6 GB block store ran 1.7x faster on huge pages).
HUGE_PAGE_BYTES = 256 << 20
_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25


def _advise_huge_pages(t: torch.Tensor, collapse: bool = False) -> None:
    """Ask Linux to back ``t`` (CPU) with transparent huge pages: before its first touch that is
    enough; ``collapse`` also converts pages already in place (memory loaded from a checkpoint).
    Best effort: anything else (another OS, an old kernel, THP off) leaves ``t`` as it is."""
    n = t.numel() * t.element_size()
    if t.device.type != "cpu" or n < HUGE_PAGE_BYTES or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        lo = (t.data_ptr() + (1 << 21) - 1) & ~((1 << 21) - 1)
        hi = (t.data_ptr() + n) & ~((1 << 21) - 1)
        for advice in (_MADV_HUGEPAGE, _MADV_COLLAPSE) if collapse else (_MADV_HUGEPAGE,):
            libc.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), advice)
    except (OSError, AttributeError):
        pass


def _zero_blocks(nb: int, V: int, c: int, dtype: torch.dtype, device) -> torch.Tensor:
    """A zeroed ``nb x V x c`` block store (on huge pages where :func:`_advise_huge_pages` can)."""
    t = torch.empty(nb, V, c, dtype=dtype, device=device)
    _advise_huge_pages(t)
    return t.zero_()


@dataclass
class CBOWModel:
    """Embeddings (V x n) and output vectors (V x n); ``train_emb`` False freezes the embeddings.

    Storage is blocked by columns: ``emb_store[k]`` is the contiguous ``V x c`` block of columns
    ``k c .. (k+1) c - 1`` (the last block zero-padded; padding stays exactly 0 through training),
    so a step can work block by block on the rows it touches while they sit in cache. Rows carry a
    per-row scale (``emb[i] = emb_scale[i] * stored row i``) so that weight decay of a touched row
    costs one multiplication instead of a pass over a length-n row (for the limit n = V).
    The stored blocks may be bfloat16 (half the memory); scales and all arithmetic are then
    float32 and stored rows are rounded stochastically (see :func:`cbow_update`).
    Use :meth:`embeddings` / :meth:`output_vectors` for the actual matrices.
    """

    emb_store: torch.Tensor
    out_store: torch.Tensor
    width: int
    kind: str
    train_emb: bool = True
    emb_scale: torch.Tensor | None = None
    out_scale: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for name in ("emb_scale", "out_scale"):
            if getattr(self, name) is None:
                V = self.emb_store.shape[1]
                setattr(self, name, torch.ones(V, dtype=self.compute_dtype, device=self.emb_store.device))

    @classmethod
    def from_matrices(
        cls, emb: torch.Tensor, out: torch.Tensor, kind: str = "mup", train_emb: bool = True, *,
        storage: torch.dtype | None = None, block: int = COLUMN_BLOCK,
    ) -> CBOWModel:
        """A model starting from explicit ``V x n`` matrices (copied into blocked storage)."""
        storage = storage or emb.dtype
        return cls(to_blocks(emb, block, storage), to_blocks(out, block, storage), emb.shape[1], kind, train_emb)

    @property
    def vocab_size(self) -> int:
        return self.emb_store.shape[1]

    @property
    def device(self) -> torch.device:
        return self.emb_store.device

    @property
    def storage_dtype(self) -> torch.dtype:
        return self.emb_store.dtype

    @property
    def compute_dtype(self) -> torch.dtype:
        """float32 for 16-bit storage, else the storage dtype."""
        dt = self.emb_store.dtype
        return torch.float32 if dt in (torch.bfloat16, torch.float16) else dt

    def embeddings(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The V x n embedding matrix (in ``dtype``, default the compute dtype)."""
        return from_blocks(self.emb_store, self.width, self.emb_scale, dtype or self.compute_dtype)

    def output_vectors(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return from_blocks(self.out_store, self.width, self.out_scale, dtype or self.compute_dtype)

    def free_outputs(self) -> None:
        """Drop the output vectors (before evaluation, so peak memory stays two matrices)."""
        self.out_store = torch.empty(0)

    def state(self) -> dict:
        return {
            "emb_store": self.emb_store, "out_store": self.out_store, "width": self.width, "kind": self.kind,
            "train_emb": self.train_emb, "emb_scale": self.emb_scale, "out_scale": self.out_scale,
        }

    @classmethod
    def from_state(cls, state: dict) -> CBOWModel:
        state = dict(state)
        if "emb_rows" in state:  # a checkpoint of the row-major layout (before blocked storage)
            emb, out = state.pop("emb_rows"), state.pop("out_rows")
            state.update(emb_store=to_blocks(emb, COLUMN_BLOCK, emb.dtype), out_store=to_blocks(out, COLUMN_BLOCK, out.dtype),
                         width=emb.shape[1])
        else:  # loaded from a checkpoint: move the blocks onto huge pages in place
            for name in ("emb_store", "out_store"):
                _advise_huge_pages(state[name], collapse=True)
        return cls(**state)


def to_blocks(mat: torch.Tensor, block: int, dtype: torch.dtype) -> torch.Tensor:
    """``V x n`` -> ``nb x V x c`` column blocks (c = min(block, n), the last block zero-padded)."""
    V, n = mat.shape
    c = max(1, min(block, n))
    nb = -(-n // c)
    store = _zero_blocks(nb, V, c, dtype, mat.device)
    for k in range(nb):
        cols = mat[:, k * c : (k + 1) * c]
        store[k, :, : cols.shape[1]] = cols
    return store


def from_blocks(store: torch.Tensor, width: int, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The ``V x width`` matrix ``diag(scale) [blocks side by side]`` in ``dtype``, block by block."""
    nb, V, c = store.shape
    out = torch.empty(V, width, dtype=dtype, device=store.device)
    s = scale.to(dtype)[:, None]
    for k in range(nb):
        w = min(c, width - k * c)
        out[:, k * c : k * c + w] = store[k, :, :w].to(dtype) * s
    return out


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
    storage: torch.dtype | None = None,
    block: int = COLUMN_BLOCK,
) -> CBOWModel:
    """Allocate and initialize the model named by ``spec`` (see :func:`parse_model_spec`).

    ``dtype`` is the arithmetic; ``storage`` the stored blocks' dtype (default ``dtype``;
    ``torch.bfloat16`` with ``dtype`` float32 halves the memory)."""
    kind, width = parse_model_spec(spec)
    storage = storage or dtype
    gen = torch.Generator().manual_seed(seed)
    V = vocab_size
    if kind in ("limit", "ntk") and width is None:  # identity embeddings, written straight into blocks
        c = max(1, min(block, V))
        nb = -(-V // c)
        emb = _zero_blocks(nb, V, c, storage, device)
        rows = torch.arange(V, device=device)
        emb[rows // c, rows, rows % c] = 1.0
        out = _zero_blocks(nb, V, c, storage, device)
        model = CBOWModel(emb, out, V, kind, train_emb=kind == "limit")
        model.emb_scale, model.out_scale = (torch.ones(V, dtype=dtype, device=device) for _ in range(2))
        return model
    n = int(width)
    emb = _random_embeddings(kind, V, n, gen, dtype)  # drawn first: sp's output vectors follow
    if kind == "sp":
        out = torch.randn(V, n, generator=gen, dtype=dtype) / math.sqrt(n)
    else:  # mup, or ntk with frozen random embeddings of width n
        out = torch.zeros(V, n, dtype=dtype)
    return CBOWModel.from_matrices(emb.to(device), out.to(device), kind, train_emb=kind != "ntk",
                                   storage=storage, block=block)


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


# Random 16-bit dither values for stochastic rounding, drawn once per device from a fixed seed; each
# rounding reads a window of them at an offset drawn from the step's ``rounding_seed``.
DITHER_POOL = 1 << 23
_dither_pools: dict[str, torch.Tensor] = {}


def _dither_pool(device: torch.device | str) -> torch.Tensor:
    key = str(device)
    if key not in _dither_pools:
        g = torch.Generator().manual_seed(0x5EED)
        _dither_pools[key] = torch.randint(0, 1 << 16, (DITHER_POOL,), generator=g, dtype=torch.int32).to(device)
    return _dither_pools[key]


def _dither_pool_uint16() -> np.ndarray:
    """The CPU pool's values (all below 2^16) as uint16 for the fused kernel: the same random bits
    in half the bytes. The kernel reads one pool value per stored value it rounds; in int32 those
    reads were twice the bfloat16 rows' own traffic."""
    key = "cpu:uint16"
    if key not in _dither_pools:
        _dither_pools[key] = _dither_pool("cpu").to(torch.uint16)
    return _dither_pools[key].numpy()


def _dither_offsets(n: int, gen: torch.Generator) -> list[int]:
    """Pool offsets of the windows (of ``DITHER_POOL // 2`` values, the last one shorter) that give
    ``n`` dither values: one draw from ``gen`` per window."""
    offs = []
    while n > 0:
        m = min(n, DITHER_POOL // 2)
        offs.append(int(torch.randint(0, DITHER_POOL - m + 1, (1,), generator=gen)))
        n -= m
    return offs


def _dither(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` int32 values uniform in [0, 2^16): windows of the pool at uniformly random offsets."""
    pool = _dither_pool(device)
    offs, parts = _dither_offsets(n, gen), []
    for i, off in enumerate(offs):
        m = min(n - i * (DITHER_POOL // 2), DITHER_POOL // 2)
        parts.append(pool[off : off + m])
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _stochastic_bf16(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Round float32 ``x`` to bfloat16 stochastically: up (in magnitude) with probability equal to
    the dropped fraction of the last kept bit, so ``E[round(x)] = x`` and small updates are not lost.

    Adds 16 random bits below the 16 bits bfloat16 keeps, then truncates: a carry into the kept bits
    happens exactly with the dropped fraction's probability. The random bits are a window of a fixed
    pool of uniform values at a uniformly random offset (see :func:`_dither`): every element's bits
    are then uniform over the pool's values, whose empirical law is uniform to ~1/sqrt(2^23), so the
    rounding's bias is below 1e-3 of a last bit. Integer tensor ops only: the same on CPU and CUDA.
    """
    bits = x.contiguous().view(-1).view(torch.int32)
    bits = bits.add(_dither(bits.numel(), gen, x.device)).bitwise_and_(-65536)
    return bits.view(torch.float32).view(x.shape).to(torch.bfloat16)


def _sorted_groups(keys: torch.Tensor, n_groups: int):
    """Order grouping ``keys`` (stable) and CSR offsets: (order, offsets of length n_groups + 1)."""
    order = torch.argsort(keys, stable=True)
    offsets = torch.zeros(n_groups + 1, dtype=torch.int64, device=keys.device)
    offsets[1:] = torch.cumsum(torch.bincount(keys, minlength=n_groups), 0)
    return order, offsets


def _nonempty_contexts(
    ctx: torch.Tensor, ctx_mask: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch rows whose context has at least one word, and each row's context size."""
    cw = ctx_mask.sum(1)
    keep = cw > 0
    if not bool(keep.all()):
        return ctx[keep], ctx_mask[keep], targets[keep], negatives[keep], cw[keep]
    return ctx, ctx_mask, targets, negatives, cw


def kernel_available(model: CBOWModel) -> bool:
    """Whether the fused CPU kernels (numba) can run ``model``'s step: CPU, contiguous storage."""
    if model.device.type != "cpu" or not (model.emb_store.is_contiguous() and model.out_store.is_contiguous()):
        return False
    if model.emb_store.dtype == torch.float16:  # the kernels widen 16-bit values as bfloat16 bits
        return False
    try:
        from infwidth.experiments.word2vec import cpu_kernel  # noqa: F401
    except ImportError:  # numba missing: the torch step
        return False
    return True


@torch.no_grad()
def cbow_update(
    model: CBOWModel,
    ctx: torch.Tensor,
    ctx_mask: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    lr: float,
    weight_decay: float = 0.0,
    *,
    rounding_seed: int = 0,
    kernel: bool | None = None,
) -> tuple[float, int]:
    """One SGD step of CBOW with negative sampling for a minibatch of target words.

    ``ctx`` (B x C) holds context word ids, ``ctx_mask`` (B x C, bool) which of them exist,
    ``targets`` (B,) the centre words, ``negatives`` (B x K) sampled words (a negative equal to its
    target is skipped, as in word2vec). Every quantity is computed from the parameters before the
    step; then each touched row decays by ``1 - lr * weight_decay`` per touch and receives its
    gradient. Returns (summed loss, number of targets with a context).

    The step reads each row it touches once to score and once to update, block of columns by block
    (the storage is blocked, see :class:`CBOWModel`): pass 1 gathers the unique context and output
    rows of a block, forms the context means and accumulates the B x (1+K) scores; pass 2 gathers
    them again, forms the context means and the context gradients from the old values and writes
    the updated rows back, all while the block's rows are in cache. Repeated rows inside a batch
    are read once per pass; the cost is O(unique rows x n), never O(V^2). With bfloat16 storage the
    arithmetic is float32 and each updated stored value is rounded stochastically, with random bits
    fixed by ``rounding_seed`` (so a resumed run repeats them).

    ``kernel``: run the two passes as fused CPU kernels (:mod:`.cpu_kernel`, each touched row read
    and written once per pass; the same arithmetic, up to the order of float sums); ``None`` (the
    default) uses them where they were measured faster (docs/word2vec.md section 6b): on the CPU
    for 16-bit storage and for models wider than one column block (the limit); ``False`` forces the
    torch passes (the reference, and the path on CUDA); ``True`` forces the kernels.
    """
    if kernel is None:
        several_blocks = model.emb_store.shape[0] > 1
        half_storage = model.emb_store.dtype in (torch.bfloat16, torch.float16)
        kernel = (half_storage or several_blocks) and kernel_available(model)
    elif kernel and not kernel_available(model):
        raise UserError(f"the fused CPU step needs numba and a model on the CPU (it is on {model.device}); "
                        "use `kernel=None` or `kernel=False`")
    emb_store, out_store = model.emb_store, model.out_store
    dev, dtype = emb_store.device, model.compute_dtype
    half = emb_store.dtype in (torch.bfloat16, torch.float16)
    ctx, ctx_mask, targets, negatives, cw = _nonempty_contexts(ctx, ctx_mask, targets, negatives)
    B = ctx.shape[0]
    if B == 0:
        return 0.0, 0
    inv_cw = 1.0 / cw.to(dtype)
    arangeB = torch.arange(B, device=dev)

    # Context occurrences in target order; unique rows and each occurrence's local row.
    ctx_ids = ctx[ctx_mask]
    ctx_b = torch.repeat_interleave(arangeB, cw)
    uc, ctx_loc = torch.unique(ctx_ids, return_inverse=True)
    ctx_off = torch.zeros(B, dtype=torch.int64, device=dev)
    ctx_off[1:] = torch.cumsum(cw, 0)[:-1]
    w_ctx = inv_cw[ctx_b] * model.emb_scale[ctx_ids]  # H_b = sum w * stored emb rows

    # Output occurrences (target first, then negatives; a negative equal to its target dropped),
    # sorted by (target, local row) for the sampled product's CSR pattern.
    ids = torch.cat([targets[:, None], negatives], dim=1)
    K1 = ids.shape[1]
    is_pos = torch.zeros_like(ids, dtype=torch.bool)
    is_pos[:, 0] = True
    used = (ids != targets[:, None]) | is_pos
    occ_ids, occ_b, occ_pos = ids[used], arangeB[:, None].expand(B, K1)[used], is_pos[used]
    uo, occ_loc = torch.unique(occ_ids, return_inverse=True)
    Uo, Uc = len(uo), len(uc)
    order = torch.argsort(occ_b * Uo + occ_loc)
    occ_ids, occ_b, occ_pos, occ_loc = occ_ids[order], occ_b[order], occ_pos[order], occ_loc[order]
    per_b = torch.bincount(occ_b, minlength=B)
    crow = torch.zeros(B + 1, dtype=torch.int64, device=dev)
    crow[1:] = torch.cumsum(per_b, 0)
    occ_scale = model.out_scale[occ_ids]

    o_order, o_off = _sorted_groups(occ_loc, Uo)
    c_order, c_off = _sorted_groups(ctx_loc, Uc)
    b_of_o, b_of_c = occ_b[o_order], ctx_b[c_order]

    # Pass 1: scores (and the context means of every block, kept for pass 2).
    if kernel:
        s, Hs = _kernel_pass1(model, B, uc, c_off, b_of_c, w_ctx[c_order], uo, o_off, o_order, b_of_o)
    else:
        s, Hs = _torch_pass1(model, ctx_ids, ctx_loc, ctx_off, w_ctx, uc, occ_ids, occ_loc, occ_b, uo, crow)
    s *= occ_scale
    label = occ_pos.to(dtype)
    g = (label - torch.sigmoid(s)) * lr
    loss = float(-torch.nn.functional.logsigmoid(torch.where(occ_pos, s, -s)).sum(dtype=torch.float64))

    # Decay each touched row once per touch (a scale change), then updates divided by the new scale.
    decay = 1.0 - lr * weight_decay
    if decay != 1.0:
        d = torch.tensor(decay, dtype=dtype, device=dev)
        model.out_scale[uo] *= torch.pow(d, (o_off[1:] - o_off[:-1]).to(dtype))
        if model.train_emb:
            model.emb_scale[uc] *= torch.pow(d, (c_off[1:] - c_off[:-1]).to(dtype))
    w_neu = g * occ_scale  # neu1e_b = sum g * (old) output rows
    w_out = (g / model.out_scale[occ_ids])[o_order]  # dO_u = sum g H_b / new scale
    w_emb = (inv_cw[ctx_b] / model.emb_scale[ctx_ids])[c_order]  # dE_u = sum neu1e_b / m / new scale

    # Pass 2: updates, block by block, from the values before the step (H kept from pass 1). With
    # 16-bit storage the rounding's random bits come from ``rounding_seed``: per block, one draw for
    # the output rows' update, then one for the context rows' (both paths draw them alike).
    gen = torch.Generator().manual_seed(rounding_seed) if half else None
    if kernel:
        _kernel_pass2(model, Hs, uo, o_off, b_of_o, w_neu[o_order], w_out, uc, c_off, b_of_c, w_emb, gen)
    else:
        _torch_pass2(model, Hs, uo, occ_ids, occ_loc, crow, w_neu, o_off, b_of_o, w_out,
                     uc, c_off, b_of_c, w_emb, gen)
    for store, scale, u in ((out_store, model.out_scale, uo), (emb_store, model.emb_scale, uc)):
        small = u[scale[u] < MIN_SCALE]
        if len(small):
            for k in range(store.shape[0]):
                folded = store[k].index_select(0, small).to(dtype) * scale[small, None]
                store[k].index_copy_(0, small, folded.to(store.dtype))
            scale[small] = 1.0
    return loss, B


def _torch_pass1(model, ctx_ids, ctx_loc, ctx_off, w_ctx, uc, occ_ids, occ_loc, occ_b, uo, crow):
    """Scores and context means with torch ops, block by block. Float32/64 storage is read in
    place (sparse products read only the rows they need); 16-bit storage is gathered (the unique
    rows of one block) and widened to float32."""
    emb_store, out_store = model.emb_store, model.out_store
    dev, dtype = emb_store.device, model.compute_dtype
    half = emb_store.dtype in (torch.bfloat16, torch.float16)
    B, V, Uo = len(ctx_off), emb_store.shape[1], len(uo)
    if half:
        c_idx, o_idx, o_cols = ctx_loc, occ_loc, Uo
    else:
        c_idx, o_idx, o_cols = ctx_ids, occ_ids, V
    sampled = int((crow[1:] - crow[:-1]).max()) <= o_cols  # torch's sampled product needs nnz per row <= columns
    if sampled:
        pattern = _csr(crow, o_idx, torch.zeros(len(o_idx), dtype=dtype, device=dev), (B, o_cols))
    s = torch.zeros(len(occ_loc), dtype=dtype, device=dev)
    Hs = []
    for k in range(emb_store.shape[0]):
        if half:
            E_k, O_k = emb_store[k].index_select(0, uc).to(dtype), out_store[k].index_select(0, uo).to(dtype)
        else:
            E_k, O_k = emb_store[k], out_store[k]
        H = _bag(E_k, c_idx, ctx_off, w_ctx)
        Hs.append(H)
        if sampled:
            s += torch.sparse.sampled_addmm(pattern, H, O_k.t(), beta=0.0).values()
        else:
            s += (O_k[o_idx] * H[occ_b]).sum(-1)
    return s, Hs


def _torch_pass2(model, Hs, uo, occ_ids, occ_loc, crow, w_neu, o_off, b_of_o, w_out, uc, c_off, b_of_c, w_emb, gen):
    emb_store, out_store, dtype = model.emb_store, model.out_store, model.compute_dtype
    for k in range(emb_store.shape[0]):
        E_k, O_k, H = emb_store[k], out_store[k], Hs[k]
        if gen is not None:
            Ou = O_k.index_select(0, uo).to(dtype)
            neu1e = _bag(Ou, occ_loc, crow[:-1], w_neu)
            _write_rows(O_k, uo, Ou.add_(_bag(H, b_of_o, o_off[:-1], w_out)), gen)
            if model.train_emb:
                Ec = E_k.index_select(0, uc).to(dtype)
                _write_rows(E_k, uc, Ec.add_(_bag(neu1e, b_of_c, c_off[:-1], w_emb)), gen)
        else:
            neu1e = _bag(O_k, occ_ids, crow[:-1], w_neu)
            O_k.index_add_(0, uo, _bag(H, b_of_o, o_off[:-1], w_out))
            if model.train_emb:
                E_k.index_add_(0, uc, _bag(neu1e, b_of_c, c_off[:-1], w_emb))


def _raw(store: torch.Tensor) -> np.ndarray:
    """The stored blocks as a numpy array sharing memory (16-bit floats as their raw int16 bits)."""
    return store.view(torch.int16).numpy() if store.dtype == torch.bfloat16 else store.numpy()


_SCRATCH: dict[tuple, torch.Tensor] = {}


def _scratch(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialized CPU tensor of ``shape`` whose memory is kept for the next step of this
    thread: the blocks' context means are B x V numbers (123 MB at V = 30,000, B = 1,024), and a
    fresh allocation of that size each step cost 7% of the step in page faults."""
    key = (threading.get_ident(), dtype)
    n = math.prod(shape)
    buf = _SCRATCH.get(key)
    if buf is None or buf.numel() < n:
        _SCRATCH[key] = buf = torch.empty(n, dtype=dtype)
    return buf[:n].view(shape)


def _kernel_pass1(model, B, uc, c_off, c_b, c_w, uo, o_off, o_occ, o_b):
    """Pass 1 as one fused kernel over the column blocks (see :mod:`.cpu_kernel`)."""
    from infwidth.experiments.word2vec import cpu_kernel

    cpu_kernel.set_threads(torch.get_num_threads())
    nb, _, c = model.emb_store.shape
    H = _scratch((nb, B, c), model.compute_dtype)
    s_part = torch.empty(nb, len(o_occ), dtype=model.compute_dtype)
    cpu_kernel.pass1(_raw(model.emb_store), _raw(model.out_store), uc.numpy(), c_off.numpy(), c_b.numpy(),
                     c_w.numpy(), uo.numpy(), o_off.numpy(), o_occ.numpy(), o_b.numpy(), H.numpy(), s_part.numpy())
    s = s_part[0].clone()
    for k in range(1, nb):  # the torch path's order of the blocks' partial sums
        s += s_part[k]
    return s, H


def _kernel_pass2(model, H, uo, o_off, o_b, o_wneu, o_wout, uc, c_off, c_b, c_wemb, gen):
    """Pass 2 as one fused kernel; with 16-bit storage the dither offsets are drawn from ``gen``
    in the torch path's order (per block: output rows, then context rows)."""
    from infwidth.experiments.word2vec import cpu_kernel

    nb, _, c = model.emb_store.shape
    if gen is None:
        pool, half = np.zeros(1, np.int32), 1 << 62
        offs_o = offs_e = np.zeros((nb, 1), np.int64)
    else:
        pool, half = _dither_pool_uint16(), DITHER_POOL // 2
        n_o, n_e = len(uo) * c, len(uc) * c
        offs_o = np.zeros((nb, max(1, -(-n_o // half))), np.int64)
        offs_e = np.zeros((nb, max(1, -(-n_e // half))), np.int64)
        for k in range(nb):
            o = _dither_offsets(n_o, gen)
            offs_o[k, : len(o)] = o
            if model.train_emb:
                e = _dither_offsets(n_e, gen)
                offs_e[k, : len(e)] = e
    cpu_kernel.pass2(_raw(model.emb_store), _raw(model.out_store), H.numpy(), uo.numpy(), o_off.numpy(), o_b.numpy(),
                     o_wneu.numpy(), o_wout.numpy(), uc.numpy(), c_off.numpy(), c_b.numpy(), c_wemb.numpy(),
                     bool(model.train_emb), pool, offs_o, offs_e, half)


def _write_rows(store: torch.Tensor, rows: torch.Tensor, new: torch.Tensor, gen: torch.Generator) -> None:
    """``store[rows] = new`` (rows unique), rounded stochastically to the 16-bit storage."""
    store.index_copy_(0, rows, _stochastic_bf16(new, gen))


@torch.no_grad()
def cbow_update_unfused(
    mats: dict,
    ctx: torch.Tensor,
    ctx_mask: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    lr: float,
    weight_decay: float = 0.0,
) -> tuple[float, int]:
    """The previous step on row-major ``V x n`` matrices (kept as the baseline :func:`cbow_update`
    is tested and benchmarked against). ``mats`` holds ``emb``, ``out``, ``emb_scale``,
    ``out_scale`` (updated in place) and ``train_emb``.

    ``ctx`` (B x C) holds context word ids, ``ctx_mask`` (B x C, bool) which of them exist,
    ``targets`` (B,) the centre words, ``negatives`` (B x K) sampled words (a negative equal to its
    target is skipped, as in word2vec). Every quantity is computed from the parameters before the
    step; then each touched row decays by ``1 - lr * weight_decay`` per touch and receives its
    gradient. Sparse sums (``embedding_bag``) read only the rows a batch touches, so the width-V
    limit costs O(rows touched x V), never O(V^2). Returns (summed loss, number of targets with a context).
    """
    emb, out = mats["emb"], mats["out"]
    emb_scale, out_scale = mats["emb_scale"], mats["out_scale"]
    dev, dtype = emb.device, emb.dtype
    ctx, ctx_mask, targets, negatives, cw = _nonempty_contexts(ctx, ctx_mask, targets, negatives)
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
    if mats["train_emb"]:
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
