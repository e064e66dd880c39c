"""Stream a corpus (Wikipedia .tar.xz archives, plain or text8-format files) as text8-normalized text.

Normalization (the data MANIFEST's rules, after Mahoney's ``wikifil.pl``): for every line not
starting with ``<doc `` or ``</doc>``: ``str.lower`` -> each digit becomes `` zero `` .. `` nine ``
-> every run of characters outside ``[a-z]`` becomes one space -> strip; non-empty lines are
joined by one space into a single line. A text8 file is already normalized, and normalizing it
again changes nothing but a leading/trailing space, so one code path reads every source.

Sources (see :func:`corpus_files`): the data directory (its ``text/*.tar.xz``), a directory of
archives, one ``.tar.xz``/``.tar.gz``/``.tar`` archive, a plain text file (optionally ``.xz``,
``.gz`` or ``.bz2`` compressed), or ``"sample"`` for the small sample shipped with the package.
Everything streams: memory stays at a few MB whatever the corpus size.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infwidth.datasets import package_data
from infwidth.errors import UserError

SAMPLE_NAME = "sample"
_READ_CHARS = 1 << 20  # characters read per step from a text stream
_DIGITS = str.maketrans(
    {str(d): f" {w} " for d, w in enumerate("zero one two three four five six seven eight nine".split())}
)
_NOT_AZ = re.compile(r"[^a-z]+")
_DOC_LINE = re.compile(r"^(?:<doc |</doc>)[^\n]*", re.MULTILINE)
_ARCHIVE_SUFFIXES = (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tar")
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}


@dataclass(frozen=True)
class CorpusFile:
    """One input file: ``kind`` is ``"archive"`` (a tar of text files) or ``"text"``."""

    path: Path
    kind: str


def sample_corpus_path() -> Path:
    """The small normalized Wikipedia prefix shipped with the package (xz-compressed text8 format)."""
    return package_data("word2vec", "wiki_sample.txt.xz")


def _is_archive(path: Path) -> bool:
    return path.name.endswith(_ARCHIVE_SUFFIXES)


def corpus_files(source: str | Path) -> list[CorpusFile]:
    """Resolve ``source`` to the files read, in corpus order (sorted names inside directories)."""
    if str(source) == SAMPLE_NAME:
        source = sample_corpus_path()
    path = Path(source).expanduser()
    if path.is_dir():
        for folder in (path / "text", path):
            archives = sorted(p for p in folder.glob("*") if p.is_file() and _is_archive(p))
            if archives:
                return [CorpusFile(p, "archive") for p in archives]
        raise UserError(
            f"no corpus archives (*.tar.xz) in {path} or {path / 'text'}; pass the data directory, "
            "an archive or a text file"
        )
    if not path.is_file():
        raise UserError(f"corpus {path} does not exist; pass the data directory, an archive or a text file")
    return [CorpusFile(path, "archive" if _is_archive(path) else "text")]


def normalize_lines(text: str, *, drop_doc_lines: bool = True) -> str:
    """Normalize complete lines of raw text (MANIFEST rules); returns tokens joined by single spaces."""
    if drop_doc_lines:
        text = _DOC_LINE.sub("", text)
    return _NOT_AZ.sub(" ", text.lower().translate(_DIGITS)).strip()


class _StreamNormalizer:
    """Normalize a text stream read in big blocks, cutting only at newlines (or, in a line longer
    than a block, at whitespace) so that no word and no ``<doc`` test is ever split."""

    def __init__(self) -> None:
        self.at_line_start = True  # the next character read starts a line
        self.dropping = False  # inside a <doc>/</doc> line that spans blocks

    def _piece(self, head: str, ends_line: bool) -> str:
        if self.dropping:
            first_nl = head.find("\n")
            if first_nl < 0:
                return ""
            head, self.dropping = head[first_nl + 1 :], False
            self.at_line_start = True
        if not self.at_line_start:  # first line is a continuation: exempt from the <doc test
            first, nl, rest = head.partition("\n")
            parts = (normalize_lines(first, drop_doc_lines=False), normalize_lines(rest) if nl else "")
            out = " ".join(p for p in parts if p)
            last_line_start = bool(nl)
        else:
            out = normalize_lines(head)
            last_line_start = True
        if not ends_line:
            last = head[head.rfind("\n") + 1 :]
            starts_line = ("\n" in head) or last_line_start
            self.dropping = starts_line and _DOC_LINE.match(last) is not None
        self.at_line_start = ends_line
        return out

    def pieces(self, stream: io.TextIOBase) -> Iterator[str]:
        carry = ""
        while True:
            block = stream.read(_READ_CHARS)
            if not block:
                break
            buf = carry + block
            cut = buf.rfind("\n")
            if cut >= 0:
                head, carry, ends_line = buf[: cut + 1], buf[cut + 1 :], True
            else:
                cut = max(buf.rfind(" "), buf.rfind("\t"))
                if cut < 0:  # no whitespace at all yet: keep reading
                    carry = buf
                    continue
                head, carry, ends_line = buf[: cut + 1], buf[cut + 1 :], False
            piece = self._piece(head, ends_line)
            if piece:
                yield piece
        if carry:
            piece = self._piece(carry, True)
            if piece:
                yield piece


class _Reader(io.RawIOBase):
    """Give a tar stream member (no ``seekable``) the raw-file interface ``TextIOWrapper`` wants."""

    def __init__(self, fileobj: io.BufferedIOBase) -> None:
        self._f = fileobj

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _text_streams(cf: CorpusFile) -> Iterator[tuple[str, io.TextIOBase]]:
    """Yield ``(name, text stream)`` for every text file in ``cf``, in corpus order."""
    if cf.kind == "archive":
        with tarfile.open(cf.path, "r|*") as tar:
            previous = ""
            for member in tar:
                if not member.isfile():
                    continue
                if member.name < previous:
                    raise UserError(
                        f"archive {cf.path} lists {member.name} after {previous}; the corpus order is "
                        "the sorted path order, so repack it with sorted names"
                    )
                previous = member.name
                raw = tar.extractfile(member)
                if raw is None:
                    continue
                yield f"{cf.path}:{member.name}", io.TextIOWrapper(_Reader(raw), encoding="utf-8")
    else:
        opener = _OPENERS.get(cf.path.suffix)
        raw = opener(cf.path, "rb") if opener else open(cf.path, "rb")  # noqa: SIM115
        with raw:
            yield str(cf.path), io.TextIOWrapper(raw, encoding="utf-8")


def normalized_chunks(source: str | Path, max_chars: int | None = None) -> Iterator[str]:
    """Yield the normalized stream of ``source`` in chunks (~1 MB) whose concatenation is the stream.

    Chunk boundaries always fall between words (the joining space starts the next chunk), except
    that the stream is cut after exactly ``max_chars`` characters when given (possibly mid-word,
    like text8). Raises :class:`UserError` for a missing, corrupt or empty corpus.
    """
    if max_chars is not None and max_chars <= 0:
        raise UserError(f"max_chars must be positive (got {max_chars}); omit it to read everything")
    files = corpus_files(source)
    emitted = 0
    where = str(source)
    try:
        for cf in files:
            where = str(cf.path)
            for member, stream in _text_streams(cf):
                where = member
                for piece in _StreamNormalizer().pieces(stream):
                    chunk = " " + piece if emitted else piece
                    if max_chars is not None and emitted + len(chunk) >= max_chars:
                        yield chunk[: max_chars - emitted]
                        return
                    emitted += len(chunk)
                    yield chunk
    except UserError:
        raise
    except UnicodeDecodeError as exc:
        raise UserError(f"corpus file {where} is not UTF-8 text ({exc.reason}); pass a UTF-8 text file") from None
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as exc:
        raise UserError(
            f"corpus file {where} is corrupt or truncated ({type(exc).__name__}: {exc}); "
            "re-copy it (the data MANIFEST lists sha256 sums)"
        ) from None
    if emitted == 0:
        raise UserError(f"corpus {source} is empty after normalization (no letters a-z); pass a real corpus")


def normalized_text(source: str | Path, max_chars: int | None = None) -> str:
    """The whole normalized stream as one string (about 1 byte per character; fine up to ~1e9)."""
    return "".join(normalized_chunks(source, max_chars))


def normalized_sha256(source: str | Path, max_chars: int | None = None) -> tuple[str, int]:
    """sha256 hex digest and length of the normalized stream (ASCII, so characters = bytes)."""
    digest, n = hashlib.sha256(), 0
    for chunk in normalized_chunks(source, max_chars):
        digest.update(chunk.encode("ascii"))
        n += len(chunk)
    return digest.hexdigest(), n


def token_chunks(source: str | Path, max_chars: int | None = None) -> Iterator[list[str]]:
    """Yield the stream's tokens in lists (one list per chunk); a word cut by ``max_chars`` counts."""
    for chunk in normalized_chunks(source, max_chars):
        yield chunk.split()


def read_tokens(source: str | Path, max_chars: int | None = None) -> list[str]:
    """All tokens as one list. Small corpora only: a Python list costs ~60 bytes per token."""
    return [t for chunk in token_chunks(source, max_chars) for t in chunk]
