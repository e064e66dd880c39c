"""Embeddings in word2vec's text and binary formats (what gensim's ``load_word2vec_format`` reads).

Both start with a header line ``"V n\\n"``. Text: one line per word, ``word x1 ... xn`` with
``%.9g`` floats (enough digits to give back the float32 exactly). Binary (as word2vec.c writes
it): ``word``, a space, ``n`` little-endian float32, a newline. Files are written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.errors import UserError
from infwidth.runs import atomic_file

EXPORT_FORMATS = ("word2vec", "word2vec-binary", "npy")


def _as_array(vectors: Any) -> np.ndarray:
    if hasattr(vectors, "detach"):
        vectors = vectors.detach().cpu()
        if not vectors.is_floating_point() or vectors.dtype in torch_half_types():
            vectors = vectors.float()
        vectors = vectors.numpy()
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise UserError(f"embeddings must be a 2-d (words x dims) array, got shape {arr.shape}")
    return arr


def save_word2vec(path: str | Path, vocab: Sequence[str] | Any, vectors: Any, *, binary: bool = False) -> Path:
    """Write ``vectors[i]`` for ``vocab.words[i]`` (or ``vocab[i]``) in word2vec text or binary format."""
    words = list(getattr(vocab, "words", vocab))
    arr = _as_array(vectors)
    if arr.shape[0] != len(words):
        raise UserError(f"{len(words)} words but {arr.shape[0]} vectors; pass one vector per word")
    for w in words:
        if not w or any(ch.isspace() for ch in w):
            raise UserError(f"word {w!r} is empty or contains whitespace; the word2vec format cannot store it")
    path = Path(path)
    with atomic_file(path) as fh:
        fh.write(f"{arr.shape[0]} {arr.shape[1]}\n".encode())
        if binary:
            rows = arr.astype("<f4")
            for w, row in zip(words, rows, strict=True):
                fh.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            fmt = " ".join(["%.9g"] * arr.shape[1])
            for w, row in zip(words, arr.tolist(), strict=True):
                fh.write(f"{w} {fmt % tuple(row)}\n".encode())
    return path


def torch_half_types() -> tuple:
    import torch

    return (torch.bfloat16, torch.float16)


def save_npy(path: str | Path, vocab: Sequence[str] | Any, vectors: Any) -> tuple[Path, Path]:
    """Write the vectors as a float32 ``.npy`` matrix and the words, one per line, to ``PATH.words.txt``
    (row i is word i). Both files are written atomically."""
    words = list(getattr(vocab, "words", vocab))
    arr = _as_array(vectors)
    if arr.shape[0] != len(words):
        raise UserError(f"{len(words)} words but {arr.shape[0]} vectors; pass one vector per word")
    path = Path(path)
    words_path = path.with_name(path.name + ".words.txt")
    with atomic_file(words_path) as fh:
        fh.write(("\n".join(words) + "\n").encode())
    with atomic_file(path) as fh:
        np.save(fh, arr, allow_pickle=False)
    return path, words_path


def export_vectors(path: str | Path, words: Sequence[str], vectors: Any, fmt: str) -> list[Path]:
    """Write ``vectors`` in ``fmt`` (one of :data:`EXPORT_FORMATS`); returns the files written."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "npy":
        return list(save_npy(path, words, vectors))
    return [save_word2vec(path, words, vectors, binary=fmt == "word2vec-binary")]


def _header(data: bytes, path: Path) -> tuple[int, int, int]:
    end = data.find(b"\n")
    try:
        count, dims = (int(x) for x in data[: end if end >= 0 else len(data)].split())
    except ValueError:
        raise UserError(f"{path} does not start with a word2vec header 'count dims'; pass a word2vec file") from None
    if count < 0 or dims < 1:
        raise UserError(f"{path} has a bad word2vec header ({count} {dims}); pass a word2vec file")
    return count, dims, end + 1


def _looks_like_text(data: bytes, start: int, dims: int) -> bool:
    end = data.find(b"\n", start)
    line = data[start : end if end >= 0 else len(data)]
    try:
        parts = line.decode("utf-8").split()
        if len(parts) != dims + 1:
            return False
        [float(x) for x in parts[1:]]
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def load_word2vec(path: str | Path, *, binary: bool | None = None) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text or binary file (``binary=None`` detects which); returns ``(words, float32 array)``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}); pass an existing word2vec file") from None
    count, dims, pos = _header(data, path)
    if binary is None:
        binary = count > 0 and not _looks_like_text(data, pos, dims)
    words: list[str] = []
    vectors = np.empty((count, dims), dtype=np.float32)
    if binary:
        nbytes = 4 * dims
        for i in range(count):
            space = data.find(b" ", pos)
            if space < 0 or space + 1 + nbytes > len(data):
                raise UserError(f"{path} ends after {i} of {count} vectors; the file is truncated")
            words.append(data[pos:space].decode("utf-8", errors="replace").lstrip("\n"))
            vectors[i] = np.frombuffer(data, dtype="<f4", count=dims, offset=space + 1)
            pos = space + 1 + nbytes
    else:
        lines = data[pos:].decode("utf-8", errors="replace").splitlines()
        lines = [ln for ln in lines if ln.strip()]
        if len(lines) != count:
            raise UserError(f"{path} holds {len(lines)} vectors but its header says {count}; the file is damaged")
        for i, line in enumerate(lines):
            word, _, rest = line.strip().partition(" ")
            try:
                row = np.fromstring(rest, dtype=np.float32, sep=" ")
            except ValueError:  # a value that is not a number
                row = np.zeros(0, np.float32)
            if row.size != dims or len(rest.split()) != dims:
                raise UserError(f"{path} line {i + 2}: expected {dims} numbers after the word; the file is damaged")
            words.append(word)
            vectors[i] = row
    return words, vectors
