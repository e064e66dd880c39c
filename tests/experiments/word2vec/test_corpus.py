"""The streaming text8 normalizer against a slow line-by-line reference, on fixtures and real data."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import re
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infwidth.errors import UserError
from infwidth.experiments.word2vec import corpus
from infwidth.experiments.word2vec.corpus import (
    corpus_files,
    normalized_chunks,
    normalized_sha256,
    normalized_text,
    read_tokens,
    sample_corpus_path,
    token_chunks,
)

NAMES = "zero one two three four five six seven eight nine".split()
MANIFEST_SHA_1E8 = "5ce32b6ec913f46301b70f2bffc16414c87000e414485c137d935722324c5dbd"


def reference(texts: list[str]) -> str:
    """The MANIFEST rules written out character by character, one line at a time."""
    out = []
    for text in texts:
        for line in io.StringIO(text, newline=None):
            if line.startswith("<doc ") or line.startswith("</doc>"):
                continue
            spelled = "".join(f" {NAMES[int(c)]} " if c in "0123456789" else c for c in line.lower())
            words = "".join(c if "a" <= c <= "z" else " " for c in spelled).split()
            if words:
                out.append(" ".join(words))
    return " ".join(out)


RAW_1 = (
    '<doc id="12" url="http://x?curid=12" title="Anarchism">\n'
    "Anarchism\n\n"
    "Anarchism is a political philosophy (born 1840s), 3.5% of \u201cit\u201d\u2014caf\u00e9.\n"
    "</doc>\n"
    '<doc id="25" title="Autism">\n'
    "\u0130stanbul and the \u212aelvin sign; tabs\tand\r\nCRLF lines; x<doc y\n"
    "  <doc not at line start\n"
    "</doc>\n"
)
RAW_2 = "Second file: 42 words\u00a0here\n<doc id=1>\nlast line without newline 7"


def write_archive(path: Path, members: dict[str, str], mode: str = "w:xz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_reference_rules_on_a_known_line():
    assert reference(["It's 1840, \u00c9cole!\n"]) == "it s one eight four zero cole"
    assert corpus.normalize_lines("It's 1840, \u00c9cole!\n") == "it s one eight four zero cole"


def test_archive_matches_reference_and_joins_files(tmp_path):
    arc = write_archive(tmp_path / "AA.tar.xz", {"text/AA/wiki_00": RAW_1, "text/AA/wiki_01": RAW_2})
    got = normalized_text(arc)
    assert got == reference([RAW_1, RAW_2])
    assert got.startswith("anarchism anarchism is a political philosophy born one eight four zero s")
    assert "i stanbul" in got and "kelvin" in got  # str.lower of U+0130 and the Kelvin sign
    assert "doc" in got and "id" not in got.split()  # '<doc' mid-line or indented is text; doc lines dropped


def test_data_dir_layout_orders_archives(tmp_path):
    (tmp_path / "text").mkdir()
    write_archive(tmp_path / "text" / "AB.tar.xz", {"text/AB/wiki_00": "second archive\n"})
    write_archive(tmp_path / "text" / "AA.tar.xz", {"text/AA/wiki_00": "first archive\n"})
    assert [f.path.name for f in corpus_files(tmp_path)] == ["AA.tar.xz", "AB.tar.xz"]
    assert normalized_text(tmp_path) == "first archive second archive"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["<doc ", "</doc>", "\n", " ", "\t", "ab", "Z", "7", "0", "\u0130", "\u00e9", ".", "x y", "\r\n", "<"]
        ),
        max_size=60,
    ),
    st.integers(1, 9),
)
def test_streaming_equals_reference_at_any_block_size(tmp_path_factory, parts, block):
    """Tiny read blocks force cuts inside long lines and inside <doc> lines."""
    text = "".join(parts)
    path = tmp_path_factory.mktemp("s") / "c.txt"
    path.write_bytes(text.encode("utf-8"))
    expected = reference([text])
    old = corpus._READ_CHARS
    corpus._READ_CHARS = block
    try:
        if expected:
            assert normalized_text(path) == expected
        else:
            with pytest.raises(UserError, match="empty"):
                normalized_text(path)
    finally:
        corpus._READ_CHARS = old


def test_text8_file_is_a_fixed_point_and_prefix_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "_READ_CHARS", 16)
    text8 = " anarchism originated as a term of abuse first used against early working class radicals"
    (tmp_path / "text8").write_text(text8)
    assert normalized_text(tmp_path / "text8") == text8.strip()
    for n in (1, 9, 10, 11, 37, len(text8) - 1):
        assert normalized_text(tmp_path / "text8", max_chars=n) == text8.strip()[:n]
    chunks = list(normalized_chunks(tmp_path / "text8"))
    assert len(chunks) > 3 and all(c == c.lstrip() or c.startswith(" ") for c in chunks)
    assert [t for c in token_chunks(tmp_path / "text8") for t in c] == text8.split()
    assert read_tokens(tmp_path / "text8", max_chars=12) == ["anarchism", "or"]


def test_compressed_text_files(tmp_path):
    for suffix, opener in ((".xz", lzma.open), (".gz", gzip.open)):
        path = tmp_path / f"c.txt{suffix}"
        with opener(path, "wb") as fh:
            fh.write(RAW_1.encode())
        assert normalized_text(path) == reference([RAW_1])


def test_sha256_and_length(tmp_path):
    (tmp_path / "t.txt").write_text(RAW_1)
    digest, n = normalized_sha256(tmp_path / "t.txt", max_chars=20)
    assert n == 20 and digest == hashlib.sha256(reference([RAW_1])[:20].encode()).hexdigest()


def test_bad_inputs_are_one_line_user_errors(tmp_path):
    good = write_archive(tmp_path / "good.tar.xz", {"a/wiki_00": RAW_1 * 200})
    truncated = tmp_path / "bad.tar.xz"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    garbage = tmp_path / "garbage.tar.xz"
    garbage.write_bytes(b"\x00not an archive" * 100)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 ol\u00e9\n".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_text("!!! ... \u00e9\u00e9\n<doc id=1>\n")
    nodir = tmp_path / "nothing"
    nodir.mkdir()
    cases = {
        tmp_path / "missing.tar.xz": "does not exist",
        truncated: "corrupt or truncated",
        garbage: "corrupt or truncated",
        latin1: "not UTF-8",
        empty: "empty after normalization",
        nodir: "no corpus archives",
    }
    for path, message in cases.items():
        with pytest.raises(UserError, match=message) as err:
            normalized_text(path)
        assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="max_chars"):
        normalized_text(good, max_chars=0)


def test_shipped_sample_is_normalized_text8():
    path = sample_corpus_path()
    assert path.is_file(), "run scripts/make_word2vec_sample.py"
    with lzma.open(path, "rt", encoding="ascii") as fh:
        raw = fh.read()
    assert re.fullmatch(r"[a-z]+( [a-z]+)*", raw)
    assert normalized_text("sample") == raw
    assert raw.startswith("anarchism anarchism is a political philosophy")


# ---- real data -------------------------------------------------------------------------------
def test_first_wiki_file_matches_reference(real_data):
    root = real_data("text/AA.tar.xz")
    with tarfile.open(root / "text" / "AA.tar.xz", "r|xz") as tar:
        for member in tar:
            if member.isfile():
                assert member.name == "text/AA/wiki_00"
                raw = tar.extractfile(member).read().decode("utf-8")
                break
    expected = reference([raw])
    got = normalized_text(root, max_chars=len(expected) + 1)
    assert got == expected + " "
    assert got.startswith("anarchism anarchism is a political philosophy that advocates stateless societies")


@pytest.mark.slow
def test_manifest_hash_of_first_1e8_bytes(real_data):
    root = real_data("text/AA.tar.xz")
    assert normalized_sha256(root, max_chars=10**8) == (MANIFEST_SHA_1E8, 10**8)


@pytest.mark.slow
def test_manifest_hash_of_the_full_stream(real_data):
    """The MANIFEST's full-stream hash and length (414,484,446) are those of the stream plus one
    trailing space (its per-prefix character counts also include one separator per archive);
    the stream itself, stripped as the rules say, is one character shorter."""
    root = real_data("text/AA.tar.xz")
    digest, n = hashlib.sha256(), 0
    for chunk in normalized_chunks(root):
        digest.update(chunk.encode("ascii"))
        n += len(chunk)
    assert (digest.hexdigest(), n) == ("410d3fce18b16ad5114745d2d584417d9fb5043efd127b5da3326370b5b50082", 414_484_445)
    digest.update(b" ")
    assert digest.hexdigest() == "045c4bd26f1f01492018c03a4fdc89fb301daccfddee3ce6f2e5b6bcbf5efe32"
