"""Exact resume: a run killed mid-way and resumed ends with the very same embeddings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from infwidth.experiments.word2vec.config import TrainConfig
from infwidth.experiments.word2vec.synthetic import synthetic_analogy_corpus
from infwidth.experiments.word2vec.train import CHECKPOINT, corpus_from_ids, run

CFG = TrainConfig(
    models=("mup:16", "limit"), epochs=2, window=4, negatives=5, sentence_length=7, batch_size=16,
    subsample=1e-2, corpus="synthetic",
)


def _data():
    words, ids, questions, _ = synthetic_analogy_corpus(sentences=300, seed=1)
    return corpus_from_ids(words, ids, subsample=CFG.subsample), questions


def _vectors(out, spec):
    return torch.load(out / spec.replace(":", "-") / "vectors.pt", weights_only=False)["emb"]


class InjectedStop(RuntimeError):
    """Simulates a kill (nothing is saved on the way out)."""


def _stop_after(batches: int):
    """An ``on_batch`` callback that raises after ``batches`` batches, counted across models."""
    seen = [0]

    def on_batch() -> None:
        seen[0] += 1
        if seen[0] >= batches:
            raise InjectedStop(f"stopped after {seen[0]} batches")

    return on_batch


def _run(out, **kw):
    data, questions = _data()
    return run(CFG, out, corpus=data, questions=questions, progress=False, log=lambda *_: None, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    results = _run(out)
    return out, results


@pytest.mark.parametrize("stop_after", [7, 150, 290])  # first epoch, second epoch, inside the second model
def test_resume_after_injected_stop_is_exact(tmp_path, reference, stop_after):
    ref_out, ref_results = reference
    out = tmp_path / "run"
    with pytest.raises(InjectedStop):
        _run(out, checkpoint_every_batches=3, on_batch=_stop_after(stop_after))
    if stop_after > 200:  # each model trains ~190 batches: the first one is finished by now
        assert (out / "mup-16" / "result.json").exists() and not (out / "limit" / "result.json").exists()
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "running" and "results" not in record
    results = _run(out, resume=True, checkpoint_every_batches=3)
    for spec in CFG.models:
        assert torch.equal(_vectors(out, spec), _vectors(ref_out, spec)), spec
        assert results[spec]["loss"] == ref_results[spec]["loss"]
        assert results[spec]["updates"] == ref_results[spec]["updates"]
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


_CHILD = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_resume import _run
from pathlib import Path
_run(Path({out!r}), checkpoint_every_batches=2)
"""


@pytest.mark.slow
def test_resume_after_sigkill_is_exact(tmp_path, reference):
    """A real kill (SIGKILL, no cleanup) while training; the resumed run matches the reference."""
    ref_out, _ = reference
    out = tmp_path / "killed"
    code = _CHILD.format(tests=os.path.dirname(__file__), out=str(out))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "mup-16" / CHECKPOINT
    deadline = time.time() + 120
    while not ckpt.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    if not (out / "run.json").exists():
        pytest.fail("the child never started training")
    _run(out, resume=True, checkpoint_every_batches=2)
    for spec in CFG.models:
        assert torch.equal(_vectors(out, spec), _vectors(ref_out, spec)), spec


def test_resume_of_a_bfloat16_run_is_bit_identical(tmp_path):
    """bfloat16 storage rounds stochastically with bits fixed by (seed, epoch, batch): a run stopped
    mid-epoch and resumed ends with the very same 16-bit embeddings as an uninterrupted one."""
    from dataclasses import replace

    cfg = replace(CFG, storage="bfloat16", models=("limit",))
    data, questions = _data()

    def go(out, **kw):
        return run(cfg, out, corpus=data, questions=questions, progress=False, log=lambda *_: None, **kw)

    ref = go(tmp_path / "ref")
    out = tmp_path / "run"
    with pytest.raises(InjectedStop):
        go(out, checkpoint_every_batches=3, on_batch=_stop_after(100))
    assert torch.load(out / "limit" / CHECKPOINT, weights_only=False)["model"]["emb_store"].dtype == torch.bfloat16
    res = go(out, resume=True, checkpoint_every_batches=3)
    a, b = _vectors(out, "limit"), _vectors(tmp_path / "ref", "limit")
    assert a.dtype == torch.bfloat16 and torch.equal(a, b)
    assert res["limit"]["loss"] == ref["limit"]["loss"]


def test_unit_of_work_gives_the_loops_numbers(tmp_path, reference):
    """``train_one_model`` (one model from a picklable config) reproduces the loop's model exactly."""
    import pickle

    from infwidth.experiments.word2vec.train import train_one_model

    ref_out, ref_results = reference
    data, questions = _data()
    spec = CFG.models[-1]
    cfg = pickle.loads(pickle.dumps(CFG))
    res = train_one_model(cfg, spec, data, tmp_path / "one", questions, log=lambda *_: None)
    assert json.loads(json.dumps(res))["loss"] == ref_results[spec]["loss"]
    assert res["updates"] == ref_results[spec]["updates"] and res["analogy"] == ref_results[spec]["analogy"]
    one = torch.load(tmp_path / "one" / "vectors.pt", weights_only=False)["emb"]
    assert torch.equal(one, _vectors(ref_out, spec))
