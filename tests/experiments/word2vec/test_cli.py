"""``infwidth word2vec train|eval|pca`` end to end on a small text corpus, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infwidth.cli import main
from infwidth.experiments.word2vec.synthetic import synthetic_analogy_corpus


def _letters(i: int) -> str:
    return "w" + "".join("abcdefghijklmnopqrstuvwxyz"[int(d)] for d in str(i))


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """The synthetic corpus as text, plus sentences pairing a few states with their largest city."""
    words, ids, _, _ = synthetic_analogy_corpus(sentences=600)
    words = [_letters(i) for i in range(len(words))]  # text is normalized: letters only
    places = ["illinois chicago", "texas houston", "ohio columbus", "georgia atlanta", "oregon portland"]
    rng = np.random.default_rng(0)
    text = " ".join(words[i] for i in ids) + " " + " ".join(places[i] for i in rng.integers(0, 5, 400))
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text)
    return path


def _train(out, corpus, *extra):
    return main([
        "word2vec", "train", "--config", "tiny", "--corpus", str(corpus), "--models", "ntk:8,mup:8,limit",
        "--epochs", "1", "--min-count", "1", "--vocab-cap", "none", "--out", str(out), "--no-progress", *extra,
    ])


def test_train_eval_pca_and_refusals(tmp_path, corpus_file, capsys):
    out = tmp_path / "run"
    assert _train(out, corpus_file) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished"
    assert set(record["results"]["models"]) == {"ntk:8", "mup:8", "limit"}
    assert "torch" in record["versions"]
    assert record["config"]["epochs"] == 1
    for spec in ("ntk-8", "mup-8", "limit"):
        assert (out / spec / "vectors.pt").is_file() and (out / spec / "result.json").is_file()
    assert record["results"]["models"]["ntk:8"]["embedding_movement"] == 0.0
    assert record["results"]["models"]["limit"]["embedding_movement"] > 0.0
    log = capsys.readouterr()
    # a tiny vocabulary's matrices are reported in KiB, apart from the process's fixed working memory
    V = record["results"]["vocab_size"]
    line = next(x for x in (log.out + log.err).splitlines() if x.startswith("mup:8: width 8"))
    assert f"the two matrices {2 * V * 8 * 4 / 1024:.1f} KiB" in line and "fixed working memory" in line, line

    # the same command again: refused in one line, nothing overwritten
    before = (out / "run.json").read_text()
    assert _train(out, corpus_file) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infwidth: error:") and "--resume" in err and len(err.splitlines()) == 1
    assert (out / "run.json").read_text() == before

    # a different config with --resume: refused as well
    assert _train(out, corpus_file, "--resume", "--seed", "3") == 2
    assert "different config" in capsys.readouterr().err

    # resuming a finished run retrains nothing and reports the same results
    assert _train(out, corpus_file, "--resume") == 0
    assert json.loads((out / "run.json").read_text())["results"] == record["results"]
    capsys.readouterr()

    assert main(["word2vec", "eval", "--run", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| limit |" in table and "| ntk:8 |" in table

    png = tmp_path / "fig.png"
    assert main(["word2vec", "pca", "--run", str(out), "--out", str(png)]) == 0
    text = capsys.readouterr().out
    assert png.is_file() and png.stat().st_size > 1000
    assert "muP limit" in text and "NTK" in text


@pytest.mark.parametrize(
    "args, words",
    [
        (["--models", "mup"], "needs a width"),
        (["--models", "limit:4"], "without a width"),
        (["--epochs", "x"], "--epochs must be an integer"),
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--seed", "-1"], "--seed must be >= 0"),
        (["--config", "huge"], "unknown --config"),
        (["--memory-limit", "lots"], "--memory-limit"),
        (["--corpus", "/nonexistent/corpus.txt"], "does not exist"),
        (["--step", "fast"], "unknown --step 'fast'"),
    ],
)
def test_bad_train_input_is_one_line(tmp_path, args, words, capsys):
    code = main(["word2vec", "train", "--config", "tiny", "--out", str(tmp_path / "x"), "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x" / "run.json").exists()


def test_memory_refusal_names_a_cap_and_min_count(tmp_path, capsys):
    """The limit over the sample's whole vocabulary does not fit in 1 GB: refused before allocating,
    with a vocabulary cap and a min-count that would fit; no output directory is written."""
    code = main([
        "word2vec", "train", "--config", "tiny", "--models", "limit", "--vocab-cap", "none", "--min-count", "1",
        "--memory-limit", "1GB", "--out", str(tmp_path / "big"), "--no-progress",
    ])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--vocab-cap" in err and "--min-count" in err and "GB" in err
    assert not (tmp_path / "big").exists()


def test_eval_and_pca_errors(tmp_path, capsys):
    assert main(["word2vec", "eval"]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["word2vec", "pca", "--run", str(tmp_path)]) == 2
    assert "no run" in capsys.readouterr().err


def test_export_round_trips_through_the_format_readers(tmp_path, corpus_file, capsys):
    """export writes a finished model in word2vec text / binary (word2vec.c's and compute-accuracy's
    format) and npy; each reads back to the trained vectors (our reader, numpy, and gensim's
    KeyedVectors where gensim is installed). Unknown formats and unfinished models are one-line
    errors that write nothing."""
    import torch

    from infwidth.experiments.word2vec.export import load_word2vec

    out = tmp_path / "run"
    assert _train(out, corpus_file, "--models", "mup:8,limit", "--storage", "bfloat16") == 0
    state = torch.load(out / "limit" / "vectors.pt", weights_only=False)
    words, emb = state["words"], state["emb"].float().numpy()
    files = {}
    for fmt, name in (("word2vec", "v.txt"), ("word2vec-binary", "v.bin"), ("npy", "v.npy")):
        target = tmp_path / name
        assert main(["word2vec", "export", "--run", str(out), "--model", "limit", "--format", fmt,
                     "--out", str(target)]) == 0
        files[fmt] = target
    for fmt in ("word2vec", "word2vec-binary"):
        w, m = load_word2vec(files[fmt], binary=fmt == "word2vec-binary")
        assert w == words and np.array_equal(m, emb)
    assert np.array_equal(np.load(files["npy"]), emb)
    assert (tmp_path / "v.npy.words.txt").read_text().split("\n")[:-1] == words
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        KeyedVectors = None
    if KeyedVectors is not None:
        for fmt in ("word2vec", "word2vec-binary"):
            kv = KeyedVectors.load_word2vec_format(str(files[fmt]), binary=fmt == "word2vec-binary")
            assert list(kv.index_to_key) == words and np.array_equal(kv.vectors, emb)
    capsys.readouterr()
    bad = tmp_path / "bad.bin"
    assert main(["word2vec", "export", "--run", str(out), "--model", "limit", "--format", "glove",
                 "--out", str(bad)]) == 2
    assert "unknown --format" in capsys.readouterr().err and not bad.exists()
    (out / "mup-8" / "result.json").unlink()  # as if mup:8 had been interrupted
    assert main(["word2vec", "export", "--run", str(out), "--model", "mup:8", "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "has not finished" in err and err.count("\n") == 1 and not bad.exists()
    assert main(["word2vec", "export", "--run", str(out), "--model", "sp:9", "--out", str(bad)]) == 2
    assert not bad.exists()


def test_bfloat16_storage_refusals(tmp_path, corpus_file, capsys):
    """--storage with a bad value, or bfloat16 where even half the memory does not fit: one line, no out dir."""
    out = tmp_path / "run"
    assert _train(out, corpus_file, "--storage", "float16") == 2
    assert "--storage must be float32 or bfloat16" in capsys.readouterr().err and not out.exists()
    assert _train(out, corpus_file, "--storage", "bfloat16", "--memory-limit", "1MB") == 2
    err = capsys.readouterr().err
    assert "memory limit" in err and err.count("\n") == 1 and not out.exists()


def test_step_flag_chooses_the_kernel_or_the_torch_step(tmp_path, corpus_file, monkeypatch, capsys):
    """--step kernel runs the fused CPU kernel where auto would not (one-block float32), --step torch
    keeps it off where auto would use it (bfloat16); the two give the same run up to float rounding.
    --step kernel for a model on a GPU is refused in one line before anything is written."""
    from infwidth.experiments.word2vec import cpu_kernel

    calls = []
    real = cpu_kernel.pass1
    monkeypatch.setattr(cpu_kernel, "pass1", lambda *a: (calls.append(1), real(*a))[1])

    def run(name, *extra):
        calls.clear()
        assert _train(tmp_path / name, corpus_file, "--models", "mup:8", *extra) == 0
        result = json.loads((tmp_path / name / "mup-8" / "result.json").read_text())
        return len(calls), result

    n_auto, auto = run("auto")
    n_kernel, kern = run("kernel", "--step", "kernel")
    assert n_auto == 0 and n_kernel > 0
    assert kern["loss"] == pytest.approx(auto["loss"], rel=1e-5)
    assert kern["updates"] == auto["updates"]
    n_bf16, _ = run("bf16", "--storage", "bfloat16")
    n_bf16_torch, _ = run("bf16-torch", "--storage", "bfloat16", "--step", "torch")
    assert n_bf16 > 0 and n_bf16_torch == 0
    capsys.readouterr()

    import torch

    from infwidth import device as device_module
    from infwidth.errors import UserError
    from infwidth.experiments.word2vec.config import PRESETS
    from infwidth.experiments.word2vec.train import run as train_run

    monkeypatch.setattr(device_module, "resolve_device", lambda d: torch.device("cuda"))
    out = tmp_path / "gpu"
    with pytest.raises(UserError, match="`step` kernel is the fused CPU step"):
        train_run(PRESETS["tiny"], out, step="kernel", device="cuda")
    assert not out.exists()
