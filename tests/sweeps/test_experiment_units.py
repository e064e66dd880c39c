"""Word2Vec and MAML as sweep units: small picklable configs, data read from a path, JSON results, and
the same numbers as calling the experiment directly."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from infwidth.device import torch_threads
from infwidth.sweeps import read_points, run_sweep
from infwidth.sweeps.units import execute, resolve_unit


def _letters(i: int) -> str:
    """A word of letters only (the corpus reader keeps a-z): 0 -> 'waa', 1 -> 'wab', ..."""
    return "w" + "abcdefghijklmnopqrstuvwxyz"[i // 26] + "abcdefghijklmnopqrstuvwxyz"[i % 26]


@pytest.fixture
def w2v_files(tmp_path):
    """A synthetic corpus with learnable analogies written as a text file, and its questions file."""
    from infwidth.experiments.word2vec.synthetic import synthetic_analogy_corpus

    words, ids, questions, length = synthetic_analogy_corpus(n_entities=5, sentences=400, seed=0)
    name = {w: _letters(i) for i, w in enumerate(words)}
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(name[words[t]] for t in ids[s:s + length]) for s in range(0, len(ids), length)))
    qfile = tmp_path / "questions.txt"
    lines = []
    for section, qs in questions.sections:
        lines.append(f": {section}")
        lines += [" ".join(name[w] for w in q) for q in qs]
    qfile.write_text("\n".join(lines) + "\n")
    return corpus, qfile, length


def _w2v_train(corpus, length):
    return {"corpus": str(corpus), "max_chars": None, "min_count": 1, "epochs": 1, "window": 4, "negatives": 3,
            "subsample": 0.0, "batch_size": 32, "sentence_length": length}


def test_word2vec_sweep_runs_models_from_a_corpus_path(tmp_path, w2v_files):
    from infwidth.experiments.word2vec.config import TrainConfig
    from infwidth.experiments.word2vec.models import build_model
    from infwidth.experiments.word2vec.train import evaluate_embeddings, prepare_data, train_model
    from infwidth.sweeps.word2vec_unit import Word2VecPoint

    corpus, qfile, length = w2v_files
    spec = {"unit": "word2vec", "metric": "analogy_error",
            "base": {"train": _w2v_train(corpus, length), "questions": str(qfile), "device": "cpu"},
            "axes": {"model": ["mup:8", "ntk:8", "limit"]}}
    run_sweep(spec, tmp_path / "sweep", progress=False)
    records = {r["axes"]["model"]: r for r in read_points(tmp_path / "sweep").values()}
    assert set(records) == {"mup:8", "ntk:8", "limit"} and all(r["status"] == "ok" for r in records.values())
    for r in records.values():
        json.dumps(r["result"], allow_nan=False)  # strict JSON
        assert math.isfinite(r["result"]["loss"]) and 0 <= r["result"]["analogy_accuracy"] <= 1
    assert records["mup:8"]["result"]["width"] == 8
    # the unit is the experiment's own training: the same numbers as calling it directly
    cfg = TrainConfig(models=("mup:8",), **_w2v_train(corpus, length))
    data = prepare_data(cfg)
    model = build_model("mup:8", data.vocab_size, seed=0)
    with torch_threads(1):  # the unit's thread count
        stats = train_model(model, data, cfg, progress=False)
    assert stats["loss"] == pytest.approx(records["mup:8"]["result"]["loss"], rel=1e-6)
    acc = evaluate_embeddings(model.embeddings(), data.words, str(qfile))["accuracy"]
    assert acc == pytest.approx(records["mup:8"]["result"]["analogy_accuracy"])
    # the config is small and picklable (what the process and Ray executors ship)
    point = resolve_unit("word2vec").make_config(spec["base"] | {"model": "limit"})
    assert isinstance(point, Word2VecPoint) and pickle.loads(pickle.dumps(point)) == point


def test_word2vec_unit_bad_input_is_one_line(w2v_files):
    corpus, qfile, length = w2v_files
    target = resolve_unit("word2vec").target
    base = {"train": _w2v_train(corpus, length), "questions": str(qfile), "device": "cpu"}
    bad = execute(target, {**base, "model": "mup:0"})
    assert bad["status"] == "failed" and "\n" not in bad["error"]
    twice = execute(target, {**base, "model": "mup:8", "train": {**base["train"], "models": ["ntk"]}})
    assert twice["status"] == "failed" and "set the model to train with `model`" in twice["error"]
    missing = execute(target, {**base, "model": "mup:8", "train": {**base["train"], "corpus": str(corpus) + ".nope"}})
    assert missing["status"] == "failed" and missing["error"].startswith("UserError")


def _characters(num_classes: int, examples: int, seed: int) -> np.ndarray:
    """Noisy copies of random binary prototypes: uint8 (classes, examples, 28, 28), ink = 255 (learnable)."""
    g = torch.Generator().manual_seed(seed)
    proto = torch.rand(num_classes, 1, 28, 28, generator=g) < 0.2
    flip = torch.rand(num_classes, examples, 28, 28, generator=g) < 0.05
    return ((proto ^ flip).to(torch.uint8) * 255).numpy()


@pytest.fixture
def maml_npz(tmp_path):
    """Synthetic characters saved in the shipped sample's .npz layout (24 train, 8 test characters)."""
    path = tmp_path / "tiny_omniglot.npz"
    np.savez(path, train=_characters(24, 4, 1), train_names=np.array([f"syn/c{i}" for i in range(24)]),
             test=_characters(8, 4, 2), test_names=np.array([f"syn/t{i}" for i in range(8)]))
    return path


TINY_MAML = {"model": "mup", "ways": 3, "epochs": 1, "batches": 2, "val_batches": 1, "test_batches": 2,
             "meta_batch": 4, "sigma_v": 0.5}


def test_maml_sweep_runs_widths_from_an_npz_path(tmp_path, maml_npz):
    from infwidth.experiments.maml.config import MamlConfig
    from infwidth.experiments.maml.data import sample_splits
    from infwidth.experiments.maml.experiment import train

    spec = {"unit": "maml", "metric": "test_error", "base": {"config": TINY_MAML, "data": str(maml_npz), "device": "cpu"},
            "axes": {"config.width": [16, 32], "config.seed": [0]}}
    run_sweep(spec, tmp_path / "sweep", progress=False)
    records = {r["axes"]["config.width"]: r for r in read_points(tmp_path / "sweep").values()}
    assert set(records) == {16, 32} and all(r["status"] == "ok" for r in records.values()), records
    for r in records.values():
        json.dumps(r["result"], allow_nan=False)
        assert 0 <= r["result"]["test_acc"] <= 1 and r["result"]["test_error"] == pytest.approx(1 - r["result"]["test_acc"])
    with torch_threads(1):
        direct = train(MamlConfig(**TINY_MAML, width=32), tmp_path / "direct", device="cpu", show_progress=False,
                       splits=sample_splits(maml_npz))
    assert direct["test_acc"] == records[32]["result"]["test_acc"]
    assert direct["test_loss"] == pytest.approx(records[32]["result"]["test_loss"], rel=1e-12)


def test_maml_unit_bad_data_is_one_line(tmp_path, maml_npz):
    target = resolve_unit("maml").target
    for data, words in [(str(tmp_path / "none.npz"), "does not exist"), (str(maml_npz.with_suffix(".txt")), "UserError")]:
        maml_npz.with_suffix(".txt").write_text("not an npz")
        out = execute(target, {"config": TINY_MAML, "data": data, "device": "cpu"})
        assert out["status"] == "failed" and words in out["error"] and "\n" not in out["error"]
    small = tmp_path / "small.npz"
    imgs = torch.zeros(3, 4, 28, 28, dtype=torch.uint8).numpy()
    np.savez(small, train=imgs, train_names=np.array(["a", "b", "c"]), test=imgs, test_names=np.array(["a", "b", "c"]))
    out = execute(target, {"config": TINY_MAML, "data": str(small), "device": "cpu"})
    assert out["status"] == "failed" and "needs more than 20" in out["error"]
