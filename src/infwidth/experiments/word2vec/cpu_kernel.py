"""Fused CPU kernels (numba) for the two passes of :func:`~.models.cbow_update`.

The torch step (the reference, and the path on CUDA) spends its time in many small sparse ops
(``embedding_bag``, the sampled product, ``index_add_``) that each read the touched rows again. These
kernels do the same arithmetic with each touched row read (and written) once per pass:

- pass 1, per column block: every unique context row is read once and scattered, weighted, into
  the context means ``H`` (B x c); every unique output row is read once and dotted with the ``H``
  rows of its occurrences (partial scores, one per block, summed afterwards);
- pass 2, per column block: every unique output row is read once (old values), scattered into the
  context gradients ``neu1e`` (B x c) and updated with the ``H`` rows of its occurrences; then every
  unique context row is updated with the ``neu1e`` rows of its occurrences.

Column blocks are independent, so ``prange`` over blocks is race-free and the result does not
depend on the number of threads. Storage is float32/float64, or bfloat16 kept as its 16 raw bits
(int16): widened by a shift, and rounded stochastically with the same random bits as the torch
step (a window of the dither pool per row set and block, at the offsets the torch step draws).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

# numba's default OpenMP layer keeps its threads spinning after a parallel loop; beside torch's own
# OpenMP pool on a 2-CPU machine that made torch's ops 2-3x slower. The work-queue layer does not spin.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

FASTMATH = {"reassoc", "contract"}  # vectorizable sums; NaN/inf keep their meaning (divergence checks)


def _widen(x):  # pragma: no cover - replaced by the overload inside compiled code
    raise NotImplementedError


@overload(_widen)
def _widen_impl(x):
    if isinstance(x, types.Integer):  # bfloat16 bits: the top half of a float32

        def impl(x):
            return np.int32(np.int32(x) << np.int32(16)).view(np.float32)

        return impl
    return lambda x: x


def _updated(old, add, pool, at):  # pragma: no cover
    raise NotImplementedError


@overload(_updated)
def _updated_impl(old, add, pool, at):
    if isinstance(old, types.Integer):  # widen, add in float32, round stochastically to bfloat16

        def impl(old, add, pool, at):
            x = np.float32(np.int32(np.int32(old) << np.int32(16)).view(np.float32) + add)
            bits = np.int32(np.int64(x.view(np.int32)) + np.int64(pool[at]))
            return np.int16(bits >> np.int32(16))

        return impl
    return lambda old, add, pool, at: old + add


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def pass1(E, Out, uc, c_off, c_b, c_w, uo, o_off, o_occ, o_b, H, s_part):
    """Context means ``H[k]`` (B x c) and partial scores ``s_part[k, occurrence]`` per block k.

    Unique context row ``uc[u]`` adds ``c_w[t] * row`` to ``H[k, c_b[t]]`` for t in
    ``c_off[u]:c_off[u+1]``; unique output row ``uo[u]`` is dotted with ``H[k, o_b[t]]`` into
    ``s_part[k, o_occ[t]]`` for t in ``o_off[u]:o_off[u+1]``."""
    nb, _, c = E.shape
    for k in prange(nb):
        Hk = H[k]
        Hk[:] = 0
        for u in range(len(uc)):
            row = E[k, uc[u]]
            for t in range(c_off[u], c_off[u + 1]):
                h = Hk[c_b[t]]
                w = c_w[t]
                for j in range(c):
                    h[j] += w * _widen(row[j])
        for u in range(len(uo)):
            row = Out[k, uo[u]]
            for t in range(o_off[u], o_off[u + 1]):
                h = Hk[o_b[t]]
                acc = h[0] * 0
                for j in range(c):
                    acc += h[j] * _widen(row[j])
                s_part[k, o_occ[t]] = acc


@njit(inline="always")
def _write_row(row, acc, pool, offs, base, half):
    """``row += acc`` (16-bit storage: rounded with dither element ``base + j`` of the rounding
    call whose windows of ``half`` pool values start at ``offs``)."""
    c = len(row)
    p0 = offs[base // half] + base % half
    if base // half == (base + c - 1) // half:  # the row's dither is one contiguous run of the pool
        for j in range(c):
            row[j] = _updated(row[j], acc[j], pool, p0 + j)
    else:
        for j in range(c):
            e = base + j
            row[j] = _updated(row[j], acc[j], pool, offs[e // half] + e % half)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def pass2(E, Out, H, uo, o_off, o_b, o_wneu, o_wout, uc, c_off, c_b, c_wemb, train_emb,
          pool, offs_o, offs_e, half):
    """Updates of block k from the values before the step (``H`` from :func:`pass1`).

    Output row ``uo[u]``: its old values go into ``neu1e[o_b[t]]`` with weight ``o_wneu[t]``; it
    then gains ``sum_t o_wout[t] * H[k, o_b[t]]``. Context row ``uc[u]`` (if ``train_emb``) gains
    ``sum_t c_wemb[t] * neu1e[c_b[t]]``. 16-bit storage rounds element e of the (unique rows x c)
    update of block k at ``pool[offs_o[k, e // half] + e % half]`` (``offs_e`` for the context rows)."""
    nb, _, c = E.shape
    B = H.shape[1]
    for k in prange(nb):
        Hk = H[k]
        neu = np.zeros((B, c), dtype=H.dtype)
        old = np.empty(c, dtype=H.dtype)
        acc = np.empty(c, dtype=H.dtype)
        for u in range(len(uo)):
            row = Out[k, uo[u]]
            for j in range(c):
                old[j] = _widen(row[j])
            acc[:] = 0
            for t in range(o_off[u], o_off[u + 1]):
                b = o_b[t]
                wn, wo = o_wneu[t], o_wout[t]
                nr, h = neu[b], Hk[b]
                for j in range(c):
                    nr[j] += wn * old[j]
                    acc[j] += wo * h[j]
            _write_row(row, acc, pool, offs_o[k], u * c, half)
        if train_emb:
            for u in range(len(uc)):
                row = E[k, uc[u]]
                acc[:] = 0
                for t in range(c_off[u], c_off[u + 1]):
                    w = c_wemb[t]
                    nr = neu[c_b[t]]
                    for j in range(c):
                        acc[j] += w * nr[j]
                _write_row(row, acc, pool, offs_e[k], u * c, half)


def set_threads(n: int) -> None:
    """Use ``n`` threads (at most numba's maximum) for the kernels' loop over column blocks."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
