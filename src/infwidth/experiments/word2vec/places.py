"""US states and their largest single-token cities, the words of the paper's Figure 1.

Candidates per state come from the places data (cities with 15,000+ people, by decreasing
population) followed by the cities the analogy file's ``city-in-state`` section pairs with it.
Names are normalized like the corpus; only one-token names are usable (``texas``/``houston``,
not ``new york``). :func:`states_and_cities` then keeps, for each state in the vocabulary, the
first candidate city that is in the vocabulary too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Container, Iterable
from pathlib import Path

from infwidth.datasets import package_data
from infwidth.errors import UserError
from infwidth.experiments.word2vec.corpus import normalize_lines

SHIPPED_LIST = ("word2vec", "states_cities.tsv")


def _token(name: str) -> str | None:
    """The normalized name when it is a single token, else ``None``."""
    norm = normalize_lines(name, drop_doc_lines=False)
    return norm if norm and " " not in norm else None


def candidates_from_places(places_dir: str | Path) -> dict[str, list[str]]:
    """``{state: [single-token cities by decreasing population]}`` from ``us_states.json`` + the cities CSV."""
    places_dir = Path(places_dir)
    try:
        states = json.loads((places_dir / "us_states.json").read_text())
        with open(places_dir / "cities15000_US.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the places data in {places_dir} ({exc}); pass the data directory") from None
    code_to_state = {code: _token(rec["name"]) for code, rec in states.items()}
    state_tokens = {s for s in code_to_state.values() if s}
    out: dict[str, list[str]] = {s: [] for s in sorted(state_tokens)}
    rows.sort(key=lambda r: -int(r["population"]))
    claimed: set[str] = set()  # a name shared by several states goes to its most populous city
    for row in rows:
        state, city = code_to_state.get(row["admin1code"]), _token(row["name"])
        if state and city and city not in state_tokens and city not in claimed:
            out[state].append(city)
            claimed.add(city)
    return out


def candidates_from_analogies(sections: Iterable[tuple[str, list[tuple[str, str, str, str]]]]) -> dict[str, list[str]]:
    """``{state: [cities in order of first appearance]}`` from the ``city-in-state`` section."""
    out: dict[str, list[str]] = {}
    for name, questions in sections:
        if name != "city-in-state":
            continue
        for q in questions:
            for city, state in ((q[0], q[1]), (q[2], q[3])):
                city, state = city.lower(), state.lower()
                if _token(city) == city and _token(state) == state and city not in out.setdefault(state, []):
                    out[state].append(city)
    return out


def merge_candidates(*lists: dict[str, list[str]]) -> dict[str, list[str]]:
    """Candidates of the first mapping first, then new ones from the next (states sorted).

    A city already listed under another state is not added again (each word plots once).
    """
    out: dict[str, list[str]] = {}
    claimed: set[str] = set()
    for mapping in lists:
        for state, cities in mapping.items():
            merged = out.setdefault(state, [])
            for c in cities:
                if c not in claimed:
                    merged.append(c)
                    claimed.add(c)
    states = set(out)
    return {s: [c for c in out[s] if c not in states] for s in sorted(out)}


def write_candidates(candidates: dict[str, list[str]], path: str | Path) -> Path:
    """One line per state: ``state<TAB>city city ...``."""
    path = Path(path)
    path.write_text("".join(f"{s}\t{' '.join(c)}\n" for s, c in candidates.items()))
    return path


def read_candidates(path: str | Path) -> dict[str, list[str]]:
    out = {}
    for line in Path(path).read_text().splitlines():
        state, _, cities = line.partition("\t")
        if state:
            out[state] = cities.split()
    return out


def load_candidates(data: str | Path | None = None) -> dict[str, list[str]]:
    """Candidates from the data directory (places + analogy file), or the shipped list if ``None``/``"sample"``."""
    if data is None or str(data) == "sample":
        return read_candidates(package_data(*SHIPPED_LIST))
    from infwidth.experiments.word2vec.analogy import analogy_path, load_analogies

    root = Path(data)
    lists = [candidates_from_places(root / "places")]
    qpath = analogy_path(root)
    if qpath.is_file():
        lists.append(candidates_from_analogies(load_analogies(qpath).sections))
    return merge_candidates(*lists)


def states_and_cities(vocab: Container[str], candidates: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``(state, city)`` for each state in ``vocab`` whose candidate list has a city in ``vocab``."""
    pairs = []
    for state, cities in candidates.items():
        if state in vocab:
            city = next((c for c in cities if c in vocab), None)
            if city is not None:
                pairs.append((state, city))
    return pairs

