"""CBOW models: the vectorized step against the one-word C-style loop, and the limit's identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.experiments.word2vec.models import (
    CBOWModel,
    build_model,
    cbow_update,
    cbow_update_unfused,
    initial_embeddings,
    parse_model_spec,
    reference_update,
)

F64 = torch.float64



def _random_batch(rng: np.random.Generator, V: int, B: int, C: int = 6, K: int = 5):
    ctx = torch.from_numpy(rng.integers(0, V, size=(B, C)))
    mask = torch.from_numpy(rng.random((B, C)) < 0.8)
    mask[:, 0] = True
    tgt = torch.from_numpy(rng.integers(0, V, size=B))
    neg = torch.from_numpy(rng.integers(0, V, size=(B, K)))
    return ctx, mask, tgt, neg


def test_batch_of_one_matches_the_word_at_a_time_reference():
    """One target with weight decay, nonzero output vectors and a negative equal to the target
    (which word2vec skips) gives exactly the C loop's update (float64, rounding only)."""
    rng = np.random.default_rng(0)
    V, n = 40, 12
    E, Out = rng.normal(size=(V, n)), 0.3 * rng.normal(size=(V, n))
    model = CBOWModel.from_matrices(torch.tensor(E), torch.tensor(Out))
    for step in range(5):
        ctx = [3 + step, 10, 17 + step]  # distinct words: word2vec decays a repeated word twice in sequence
        negs = [1 + step, 7 + step, 20, 30 + step, 7 + step + 1]
        negs[2] = 7 + step  # a negative equal to the target is skipped
        cbow_update(
            model,
            torch.tensor([ctx + [0]]),
            torch.tensor([[True, True, True, False]]),
            torch.tensor([7 + step]),
            torch.tensor([negs]),
            lr=0.1,
            weight_decay=0.01,
        )
        reference_update(E, Out, ctx, 7 + step, negs, lr=0.1, weight_decay=0.01)
    np.testing.assert_allclose(model.embeddings().numpy(), E, atol=1e-13)
    np.testing.assert_allclose(model.output_vectors().numpy(), Out, atol=1e-13)


def test_batch_touching_disjoint_rows_equals_sequential_updates():
    """Minibatching only changes what is shared: targets with disjoint rows update as if one by one."""
    rng = np.random.default_rng(1)
    V, n, B = 64, 8, 4
    E, Out = rng.normal(size=(V, n)) / math.sqrt(n), 0.2 * rng.normal(size=(V, n))
    words = rng.permutation(V).reshape(B, -1)  # 16 distinct words per target
    ctx = torch.tensor(words[:, :4])
    mask = torch.ones(B, 4, dtype=torch.bool)
    tgt = torch.tensor(words[:, 4])
    neg = torch.tensor(words[:, 5:10])
    model = CBOWModel.from_matrices(torch.tensor(E), torch.tensor(Out))
    cbow_update(model, ctx, mask, tgt, neg, lr=0.05, weight_decay=0.001)
    for i in range(B):
        reference_update(E, Out, list(words[i, :4]), int(words[i, 4]), list(words[i, 5:10]), 0.05, 0.001)
    np.testing.assert_allclose(model.embeddings().numpy(), E, atol=1e-13)
    np.testing.assert_allclose(model.output_vectors().numpy(), Out, atol=1e-13)


def test_limit_update_equals_width_V_network_with_identity_init():
    """The limit is a finite width-V network with embeddings = I and outputs = 0: its minibatch
    updates equal that network's, and (batch 1) the reference loop run on I and 0."""
    rng = np.random.default_rng(2)
    V = 30
    limit = build_model("limit", V, dtype=F64)
    assert torch.equal(limit.embeddings(), torch.eye(V, dtype=F64)) and not limit.output_vectors().any()
    finite = CBOWModel.from_matrices(torch.eye(V, dtype=F64), torch.zeros(V, V, dtype=F64), "mup")
    E, Out = np.eye(V), np.zeros((V, V))
    for _ in range(20):
        ctx, mask, tgt, neg = _random_batch(rng, V, B=1)
        cbow_update(limit, ctx, mask, tgt, neg, lr=0.05, weight_decay=0.001)
        cbow_update(finite, ctx, mask, tgt, neg, lr=0.05, weight_decay=0.001)
        c = [int(x) for x, m in zip(ctx[0], mask[0], strict=True) if m]
        if len(set(c)) == len(c) and len(set(neg[0].tolist())) == neg.shape[1]:
            reference_update(E, Out, c, int(tgt[0]), neg[0].tolist(), 0.05, 0.001)
        else:  # repeated words: replay the vectorized step on the reference state instead
            m = CBOWModel.from_matrices(torch.tensor(E), torch.tensor(Out))
            cbow_update(m, ctx, mask, tgt, neg, lr=0.05, weight_decay=0.001)
            E, Out = m.embeddings().numpy(), m.output_vectors().numpy()
    for _ in range(10):
        batch = _random_batch(rng, V, B=8)
        cbow_update(limit, *batch, lr=0.05, weight_decay=0.001)
        cbow_update(finite, *batch, lr=0.05, weight_decay=0.001)
    assert torch.allclose(limit.embeddings(), finite.embeddings(), atol=1e-14)
    assert torch.allclose(limit.output_vectors(), finite.output_vectors(), atol=1e-14)
    assert limit.output_vectors().abs().max() > 1e-3  # something happened


def test_limit_update_matches_reference_on_identity():
    rng = np.random.default_rng(3)
    V = 25
    limit = build_model("limit", V, dtype=F64)
    E, Out = np.eye(V), np.zeros((V, V))
    for _ in range(15):
        words = rng.permutation(V)
        ctx, tgt, negs = list(words[:4]), int(words[4]), list(words[5:10])
        cbow_update(limit, torch.tensor([ctx]), torch.ones(1, 4, dtype=torch.bool), torch.tensor([tgt]),
                    torch.tensor([negs]), lr=0.05, weight_decay=0.001)
        reference_update(E, Out, ctx, tgt, negs, 0.05, 0.001)
    np.testing.assert_allclose(limit.embeddings().numpy(), E, atol=1e-13)
    np.testing.assert_allclose(limit.output_vectors().numpy(), Out, atol=1e-13)


def test_finite_network_with_orthonormal_embeddings_is_the_limit_rotated():
    """Width n >= V with embedding rows orthonormal (E_0 = Q^T): training keeps E = E_lim Q^T and
    Out = O_lim Q^T exactly, so every score equals the limit's (the limit's coupling with G = I)."""
    rng = np.random.default_rng(4)
    V, n = 20, 48
    Q, _ = np.linalg.qr(rng.normal(size=(n, V)))  # n x V, orthonormal columns
    limit = build_model("limit", V, dtype=F64)
    finite = CBOWModel.from_matrices(torch.tensor(Q.T.copy()), torch.zeros(V, n, dtype=F64))
    for _ in range(30):
        batch = _random_batch(rng, V, B=6)
        cbow_update(limit, *batch, lr=0.1, weight_decay=0.001)
        cbow_update(finite, *batch, lr=0.1, weight_decay=0.001)
    Qt = torch.tensor(Q.T)
    assert torch.allclose(finite.embeddings(), limit.embeddings() @ Qt, atol=1e-12)
    assert torch.allclose(finite.output_vectors(), limit.output_vectors() @ Qt, atol=1e-12)


def test_gaussian_widths_converge_to_the_limit():
    """muP widths with N(0, 1/n) embeddings approach the limit's scores E Out^T like n^{-1/2}."""
    V, steps = 16, 25
    batches = [_random_batch(np.random.default_rng(100 + t), V, B=4) for t in range(steps)]
    limit = build_model("limit", V, dtype=F64)
    for b in batches:
        cbow_update(limit, *b, lr=0.2)
    target = limit.embeddings() @ limit.output_vectors().T

    def gap(n: int) -> float:
        errs = []
        for seed in range(3):
            m = build_model(f"mup:{n}", V, seed=seed, dtype=F64)
            for b in batches:
                cbow_update(m, *b, lr=0.2)
            errs.append(float(torch.linalg.norm(m.embeddings() @ m.output_vectors().T - target)))
        return float(np.mean(errs))

    small, large = gap(64), gap(1024)
    assert large < small / 2  # expected ratio sqrt(1024/64) = 4
    assert large < 0.2 * float(torch.linalg.norm(target))


def test_ntk_keeps_embeddings_frozen_and_trains_outputs():
    rng = np.random.default_rng(5)
    for spec in ("ntk", "ntk:8"):
        m = build_model(spec, 20, dtype=F64)
        e0 = m.embeddings().clone()
        for _ in range(5):
            cbow_update(m, *_random_batch(rng, 20, B=4), lr=0.1, weight_decay=0.001)
        assert torch.equal(m.embeddings(), e0)
        assert m.output_vectors().abs().max() > 0


def test_initializations():
    V = 500
    mup = build_model("mup:256", V)
    assert mup.output_vectors().abs().max() == 0
    norms = mup.embeddings().norm(dim=1)
    assert abs(float(norms.mean()) - 1.0) < 0.05  # rows of norm ~1: coordinates N(0, 1/n)
    sp = build_model("sp:256", V)
    assert abs(float(sp.embeddings().std()) - 1.0) < 0.02
    assert abs(float(sp.output_vectors().std()) * 16 - 1.0) < 0.05  # N(0, 1/n), n = 256
    assert torch.equal(initial_embeddings("mup:256", V), mup.embeddings())
    assert torch.equal(initial_embeddings("limit", 7), torch.eye(7))


def test_scaled_rows_fold_back_and_stay_exact():
    """Weight decay is kept as per-row scales; folding small scales back changes nothing."""
    rng = np.random.default_rng(6)
    V, n = 10, 4
    E, Out = rng.normal(size=(V, n)), rng.normal(size=(V, n))
    model = CBOWModel.from_matrices(torch.tensor(E), torch.tensor(Out))
    for _ in range(40):  # heavy decay drives scales below the fold threshold
        words = rng.permutation(V)
        cbow_update(model, torch.tensor([list(words[:3])]), torch.ones(1, 3, dtype=torch.bool),
                    torch.tensor([int(words[3])]), torch.tensor([list(words[4:7])]), lr=0.5, weight_decay=1.0)
        reference_update(E, Out, list(words[:3]), int(words[3]), list(words[4:7]), 0.5, 1.0)
    np.testing.assert_allclose(model.embeddings().numpy(), E, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.output_vectors().numpy(), Out, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec", ["big", "mup", "mup:0", "mup:x", "limit:5", "sp"])
def test_bad_model_specs_are_user_errors(spec):
    with pytest.raises(UserError):
        parse_model_spec(spec)


def test_model_specs():
    assert parse_model_spec("mup:256") == ("mup", 256)
    assert parse_model_spec("limit") == ("limit", None)
    assert parse_model_spec("ntk") == ("ntk", None)
    assert parse_model_spec("ntk:64") == ("ntk", 64)


def _unfused_mats(E, Out, train_emb=True):
    return {"emb": torch.tensor(E), "out": torch.tensor(Out), "emb_scale": torch.ones(len(E), dtype=F64),
            "out_scale": torch.ones(len(E), dtype=F64), "train_emb": train_emb}


@pytest.mark.parametrize("kernel", [True, False], ids=["cpu-kernel", "torch-step"])
@pytest.mark.parametrize("block", [3, 7, 64])
@pytest.mark.parametrize("train_emb", [True, False])
def test_blocked_step_equals_the_unfused_step_with_repeated_rows(block, train_emb, kernel):
    """The blocked step (the fused CPU kernel and the torch step) equals the previous (unfused, row-major) step to 1e-12 in float64 on
    random batches where rows repeat inside a batch (a small vocabulary: contexts repeat words,
    negatives repeat and hit their targets), over several steps with weight decay, at column
    blocks that divide the width, do not divide it, and exceed it."""
    rng = np.random.default_rng(11)
    V, n = 23, 17
    E, Out = rng.normal(size=(V, n)) / 4, rng.normal(size=(V, n)) / 4
    model = CBOWModel.from_matrices(torch.tensor(E), torch.tensor(Out), "mup", train_emb, block=block)
    mats = _unfused_mats(E, Out, train_emb)
    repeats = 0
    for _ in range(6):
        ctx, mask, tgt, neg = _random_batch(rng, V, B=9, C=6, K=7)
        repeats += int(len(torch.unique(neg)) < neg.numel()) + int(bool((neg == tgt[:, None]).any()))
        l1, b1 = cbow_update(model, ctx, mask, tgt, neg, lr=0.2, weight_decay=0.05, kernel=kernel)
        l2, b2 = cbow_update_unfused(mats, ctx, mask, tgt, neg, lr=0.2, weight_decay=0.05)
        assert b1 == b2 and abs(l1 - l2) < 1e-10 * max(1.0, abs(l2))
    assert repeats >= 6  # the batches really share rows
    np.testing.assert_allclose(model.embeddings().numpy(), (mats["emb"] * mats["emb_scale"][:, None]).numpy(),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.output_vectors().numpy(), (mats["out"] * mats["out_scale"][:, None]).numpy(),
                               rtol=0, atol=1e-12)
    assert not torch.equal(model.output_vectors(), torch.tensor(Out))  # it trained


def test_blocked_limit_keeps_padding_zero_and_matches_unfused():
    """The limit built straight into blocks (identity, V not a multiple of the block) trains like
    the unfused step on explicit I and 0, and its padding columns stay exactly 0."""
    rng = np.random.default_rng(12)
    V = 30
    model = build_model("limit", V, dtype=F64, block=8)
    assert model.emb_store.shape == (4, V, 8)
    mats = _unfused_mats(np.eye(V), np.zeros((V, V)))
    for _ in range(5):
        batch = _random_batch(rng, V, B=12, C=6, K=9)
        cbow_update(model, *batch, lr=0.3, weight_decay=0.01)
        cbow_update_unfused(mats, *batch, lr=0.3, weight_decay=0.01)
    np.testing.assert_allclose(model.embeddings().numpy(), (mats["emb"] * mats["emb_scale"][:, None]).numpy(),
                               atol=1e-12)
    assert torch.count_nonzero(model.emb_store[-1, :, V - 24:]) == 0
    assert torch.count_nonzero(model.out_store[-1, :, V - 24:]) == 0


def test_stochastic_rounding_is_unbiased_where_rounding_to_nearest_loses_the_update():
    """1 + 1e-4 is below half a bfloat16 step (2^-8) above 1: rounding to nearest gives 1.0 and the
    1e-4 is lost; stochastic rounding gives 1 or 1 + 2^-7 with mean 1 + 1e-4 (to 2e-6 here)."""
    from infwidth.experiments.word2vec.models import _stochastic_bf16

    x = torch.full((2_000_000,), 1.0 + 1e-4)
    assert torch.equal(x.to(torch.bfloat16).float(), torch.ones_like(x))
    r = _stochastic_bf16(x, torch.Generator().manual_seed(0)).float()
    assert set(torch.unique(r).tolist()) == {1.0, 1.0 + 2**-7}
    assert abs(float(r.double().mean()) - (1.0 + 1e-4)) < 2e-6
    neg = _stochastic_bf16(-x, torch.Generator().manual_seed(1)).float()
    assert abs(float(neg.double().mean()) + (1.0 + 1e-4)) < 2e-6


def test_bfloat16_storage_tracks_float32_over_many_small_updates():
    """The limit (E = I) with a small rate: each step moves a unit diagonal entry by far less than
    half a bfloat16 step (2^-8), so plain bfloat16 storage (round to nearest after every step) loses
    most of the diagonal's drift (its mean is off by over 50%), while bfloat16 storage with float32 arithmetic and stochastic
    rounding follows float32 training: the mean drift of the diagonal agrees with float32's to 15%
    and the output vectors (which start at 0) agree to 10% in Frobenius norm.
    Stochastic rounding adds zero-mean noise of about one bfloat16 step per entry, so single
    entries are compared only on average."""
    rng = np.random.default_rng(13)
    V, steps = 200, 300
    f32 = build_model("limit", V)
    sr = build_model("limit", V, storage=torch.bfloat16)
    plain = build_model("limit", V)
    assert sr.emb_store.dtype == torch.bfloat16 and sr.emb_store.element_size() == 2
    for step in range(steps):
        ctx = torch.from_numpy(rng.integers(0, 20, size=(16, 6)))  # a few busy words: many small updates
        batch = (ctx, torch.ones(16, 6, dtype=torch.bool), torch.from_numpy(rng.integers(0, V, size=16)),
                 torch.from_numpy(rng.integers(0, V, size=(16, 5))))
        for m in (f32, sr, plain):
            cbow_update(m, *batch, lr=0.01, weight_decay=0.001, rounding_seed=step)
        for store in (plain.emb_store, plain.out_store):  # plain 16-bit storage: round to nearest
            store.copy_(store.to(torch.bfloat16).float())
    d32, dsr, dplain = (float(m.embeddings().diagonal()[:20].double().mean()) - 1.0 for m in (f32, sr, plain))
    assert abs(d32) > 0.005  # float32 really drifted, by over half a bfloat16 step
    assert abs(dsr - d32) < 0.15 * abs(d32), (dsr, d32)
    assert abs(dplain - d32) > 0.5 * abs(d32), (dplain, d32)
    O32 = f32.output_vectors()
    assert float(torch.linalg.norm(sr.output_vectors() - O32)) < 0.1 * float(torch.linalg.norm(O32))


def test_checkpoints_of_the_row_major_layout_still_load():
    """A checkpoint written before blocked storage (``emb_rows``/``out_rows``, V x n) loads into
    the blocked layout with the same matrices, so runs started before the change resume."""
    rng = np.random.default_rng(14)
    E, Out = torch.tensor(rng.normal(size=(9, 700))), torch.tensor(rng.normal(size=(9, 700)))
    s = torch.rand(9, dtype=F64) + 0.5
    old = {"emb_rows": E, "out_rows": Out, "kind": "mup", "train_emb": True, "emb_scale": s, "out_scale": s}
    model = CBOWModel.from_state(old)
    assert model.width == 700 and model.emb_store.shape[0] == 2
    assert torch.equal(model.embeddings(), E * s[:, None]) and torch.equal(model.output_vectors(), Out * s[:, None])


def _kernel_and_torch_models(E, Out, train_emb, block, storage=None):
    E, Out = torch.as_tensor(E), torch.as_tensor(Out)
    return tuple(CBOWModel.from_matrices(E, Out, "mup", train_emb, storage=storage, block=block) for _ in range(2))


@pytest.mark.parametrize("block", [4, 5, 64])  # divides the width 20, does not, exceeds it
@pytest.mark.parametrize("train_emb", [True, False])
def test_cpu_kernel_equals_the_torch_step_in_float64(block, train_emb):
    """The fused CPU kernel and the torch blocked step agree to 1e-12 in float64 (they differ only
    in the order of float sums: rounding ~1e-16 per operation, over a dozen steps of rows of
    size ~1) on batches with repeated context words, repeated negatives and negatives equal to
    their target, with weight decay; losses and per-row scales agree too. Batch sizes change from
    step to step (the kernel keeps its buffer of context means between steps)."""
    rng = np.random.default_rng(21)
    V, n = 19, 20
    kern, ref = _kernel_and_torch_models(rng.normal(size=(V, n)) / 3, rng.normal(size=(V, n)) / 3, train_emb, block)
    hits = 0
    for i in range(12):
        ctx, mask, tgt, neg = _random_batch(rng, V, B=(11, 4, 16)[i % 3], C=6, K=8)
        hits += int(bool((neg == tgt[:, None]).any())) + int(len(torch.unique(ctx[mask])) < int(mask.sum()))
        l1, b1 = cbow_update(kern, ctx, mask, tgt, neg, lr=0.2, weight_decay=0.05, kernel=True)
        l2, b2 = cbow_update(ref, ctx, mask, tgt, neg, lr=0.2, weight_decay=0.05, kernel=False)
        assert b1 == b2 and abs(l1 - l2) < 1e-10 * max(1.0, abs(l2))
    assert hits >= 12
    for a, b in ((kern.embeddings(), ref.embeddings()), (kern.output_vectors(), ref.output_vectors()),
                 (kern.emb_scale, ref.emb_scale), (kern.out_scale, ref.out_scale)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12)
    assert not torch.equal(kern.out_store, torch.zeros_like(kern.out_store))
    if not train_emb:
        assert torch.equal(kern.emb_store, ref.emb_store)  # frozen: not one bit moved


def _bf16_ulps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in bfloat16 steps between stored values of the same sign (monotone bit order)."""
    ia, ib = a.view(torch.int16).to(torch.int32), b.view(torch.int16).to(torch.int32)
    return (ia - ib).abs()


@pytest.mark.parametrize("small_pool", [False, True], ids=["pool", "split-windows"])
def test_cpu_kernel_bfloat16_matches_the_torch_step(small_pool, monkeypatch):
    """bfloat16 storage: the kernel rounds with the same random bits as the torch step (same
    dither windows, drawn in the same order from the step's seed). The float32 sums before the
    rounding differ in order, by ~1e-7 relative, so a value whose sum sits within that of a
    rounding threshold may round the other way: stored values differ by at most one bfloat16
    step, in at most 0.1% of the updated entries (~4e-5 expected: 1e-7 against a step of 2^-8).
    ``split-windows`` shrinks the dither pool so that one rounding call reads several windows."""
    from infwidth.experiments.word2vec import models

    if small_pool:
        monkeypatch.setattr(models, "DITHER_POOL", 1 << 9)
        monkeypatch.setattr(models, "_dither_pools", {})
    rng = np.random.default_rng(22)
    V, n = 60, 40
    kern, ref = _kernel_and_torch_models(rng.normal(size=(V, n)).astype(np.float32) / 3,
                                         rng.normal(size=(V, n)).astype(np.float32) / 3, True, 16, torch.bfloat16)
    for step in range(15):
        batch = _random_batch(rng, V, B=24, C=6, K=8)
        cbow_update(kern, *batch, lr=0.05, weight_decay=0.01, rounding_seed=step, kernel=True)
        cbow_update(ref, *batch, lr=0.05, weight_decay=0.01, rounding_seed=step, kernel=False)
    moved = 0
    for a, b in ((kern.emb_store, ref.emb_store), (kern.out_store, ref.out_store)):
        ulps = _bf16_ulps(a, b)
        assert int(ulps.max()) <= 1
        assert int((ulps > 0).sum()) <= max(1, a.numel() // 1000)
        moved += int((a != b).sum())
    assert torch.allclose(kern.emb_scale, ref.emb_scale, rtol=1e-6, atol=0)
    start = _kernel_and_torch_models(np.zeros((V, n), np.float32), np.zeros((V, n), np.float32), True, 16,
                                     torch.bfloat16)[0]
    assert not torch.equal(kern.out_store, start.out_store)  # it trained


def test_cpu_kernel_result_does_not_depend_on_the_thread_count():
    """Column blocks are independent: 1 and 2 threads give bit-identical models."""
    rng = np.random.default_rng(23)
    V, n = 50, 48
    E, Out = rng.normal(size=(V, n)).astype(np.float32), rng.normal(size=(V, n)).astype(np.float32)
    models = _kernel_and_torch_models(E, Out, True, 8)
    batches = [_random_batch(rng, V, B=16) for _ in range(5)]
    old = torch.get_num_threads()
    try:
        for threads, model in zip((1, 2), models, strict=True):
            torch.set_num_threads(threads)
            for batch in batches:
                cbow_update(model, *batch, lr=0.1, weight_decay=0.01, kernel=True)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(models[0].emb_store, models[1].emb_store)
    assert torch.equal(models[0].out_store, models[1].out_store)


def test_the_default_step_uses_the_kernel_where_it_was_measured_faster(monkeypatch):
    """On the CPU: the kernel for 16-bit storage and for models of several column blocks (the
    limit), the torch step for one-block float32 widths; ``kernel=False`` always the torch step."""
    from infwidth.experiments.word2vec import cpu_kernel

    calls = []
    real = cpu_kernel.pass1
    monkeypatch.setattr(cpu_kernel, "pass1", lambda *a: (calls.append(1), real(*a))[1])
    rng = np.random.default_rng(24)
    batch = _random_batch(rng, 30, B=4)
    cases = [(build_model("limit", 30, block=8), None, True), (build_model("mup:8", 30), None, False),
             (build_model("mup:8", 30, storage=torch.bfloat16), None, True),
             (build_model("limit", 30, block=8), False, False)]
    for model, kernel, expected in cases:
        calls.clear()
        cbow_update(model, *batch, lr=0.1, kernel=kernel)
        assert bool(calls) == expected, (model.width, model.storage_dtype, kernel)
