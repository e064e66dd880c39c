"""word2vec text/binary export: exact round trips, the byte layout gensim parses, damaged files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.errors import UserError
from infwidth.experiments.word2vec.export import load_word2vec, save_word2vec
from infwidth.experiments.word2vec.vocab import Vocab

WORDS = ["the", "of", "anarchism", "caf\u00e9", "zero"]


def vectors(n: int = 7, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((len(WORDS), n)).astype(np.float32)
    v[0, 0], v[1, 1], v[2, 2] = 1e-30, -3.4e38, 0.0  # extremes survive the text format too
    return v


def gensim_like_read(path, binary: bool) -> dict[str, np.ndarray]:
    """A transcription of how gensim's ``load_word2vec_format`` parses the two layouts."""
    data = open(path, "rb").read()
    header, _, body = data.partition(b"\n")
    vocab_size, vector_size = (int(x) for x in header.decode("utf-8").split())
    out = {}
    if binary:
        start = 0
        for _ in range(vocab_size):
            i_space = body.find(b" ", start)
            word = body[start:i_space].decode("utf-8").lstrip("\n")
            out[word] = np.frombuffer(body, offset=i_space + 1, count=vector_size, dtype=np.float32)
            start = i_space + 1 + 4 * vector_size
    else:
        for line in body.decode("utf-8").splitlines()[:vocab_size]:
            parts = line.rstrip().split(" ")
            assert len(parts) == vector_size + 1
            out[parts[0]] = np.array([float(x) for x in parts[1:]], dtype=np.float32)
    assert len(out) == vocab_size
    return out


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_is_exact(tmp_path, binary):
    v = vectors()
    path = save_word2vec(tmp_path / ("e.bin" if binary else "e.txt"), WORDS, torch.tensor(v), binary=binary)
    for detect in (None, binary):
        words, back = load_word2vec(path, binary=detect)
        assert words == WORDS and back.dtype == np.float32
        assert np.array_equal(back, v)
    parsed = gensim_like_read(path, binary)
    assert list(parsed) == WORDS and all(np.array_equal(parsed[w], v[i]) for i, w in enumerate(WORDS))


def test_layouts_byte_for_byte(tmp_path):
    v = np.array([[1.5, -2.0], [0.1, 3.0]], dtype=np.float32)
    vocab = Vocab(["a", "b"], np.array([3, 1]))
    text = save_word2vec(tmp_path / "t.txt", vocab, v).read_bytes()
    assert text == b"2 2\na 1.5 -2\nb 0.100000001 3\n"
    binary = save_word2vec(tmp_path / "t.bin", vocab, v, binary=True).read_bytes()
    assert binary == b"2 2\na " + v[0].astype("<f4").tobytes() + b"\nb " + v[1].astype("<f4").tobytes() + b"\n"


def test_gensim_reads_it_when_installed(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    v = vectors()
    for binary in (False, True):
        path = save_word2vec(tmp_path / f"g{binary}", WORDS, v, binary=binary)
        kv = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert list(kv.index_to_key) == WORDS and np.array_equal(kv.vectors, v)


def test_bad_inputs(tmp_path):
    v = vectors()
    with pytest.raises(UserError, match="whitespace"):
        save_word2vec(tmp_path / "x", ["a b"] + WORDS[1:], v)
    with pytest.raises(UserError, match="one vector per word"):
        save_word2vec(tmp_path / "x", WORDS[:-1], v)
    assert not (tmp_path / "x").exists()
    good = save_word2vec(tmp_path / "g.bin", WORDS, v, binary=True).read_bytes()
    (tmp_path / "trunc.bin").write_bytes(good[:-10])
    (tmp_path / "nohdr.txt").write_text("hello world\n")
    text = save_word2vec(tmp_path / "g.txt", WORDS, v).read_text().splitlines()
    (tmp_path / "short.txt").write_text("\n".join(text[:-1]) + "\n")
    (tmp_path / "badnum.txt").write_text("\n".join(text[:-1] + ["zero 1 2 3 x 5 6 7"]) + "\n")
    cases = {
        "trunc.bin": "truncated",
        "nohdr.txt": "header",
        "short.txt": "header says 5",
        "badnum.txt": "line 6",
        "missing.txt": "cannot read",
    }
    for name, msg in cases.items():
        with pytest.raises(UserError, match=msg) as err:
            load_word2vec(tmp_path / name, binary=name.endswith(".bin") or None)
        assert "\n" not in str(err.value)
