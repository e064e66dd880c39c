"""The tour: the project's main job. Each section is a module here with ``TITLE`` and ``run(ctx)``.

Sections run in :data:`SECTIONS` order; each returns a :class:`SectionResult` (markdown, key
numbers, figure paths). The runner writes ``report.md`` and ``report.json`` into the output
directory and prints each section as it finishes. The tour needs nothing but this repository:
data it uses ships in ``infwidth/_data`` or is generated.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS = ("classification", "coordcheck", "kernels", "feature_learning", "tensor_programs", "word2vec", "maml")


@dataclass
class TourContext:
    """What every section gets: where to write, the seed, the device, and a console to report on."""

    out: Path
    seed: int = 0
    device: str = "auto"
    console: Any = None

    def section_dir(self, name: str) -> Path:
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str) -> None:
        if self.console is not None:
            self.console.print(f"  [dim]{message}[/dim]")


@dataclass
class SectionResult:
    """One section of the report: a title, a markdown body, key numbers, and figures (PNG paths)."""

    title: str
    markdown: str
    numbers: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)


def available_sections() -> list[str]:
    """Section names whose modules are present, in tour order."""
    return [s for s in SECTIONS if importlib.util.find_spec(f"infwidth.tour.{s}") is not None]


def run_section(name: str, ctx: TourContext) -> tuple[SectionResult, float]:
    """Run one section; returns its result and wall seconds."""
    module = importlib.import_module(f"infwidth.tour.{name}")
    start = time.perf_counter()
    result: SectionResult = module.run(ctx)
    return result, time.perf_counter() - start


def render_markdown(results: list[tuple[str, SectionResult, float]], header: str) -> str:
    """The report as markdown, figures linked relative to the report."""
    parts = [header]
    for _name, res, seconds in results:
        parts.append(f"## {res.title}\n\n{res.markdown.strip()}\n")
        for fig in res.figures:
            parts.append(f"![{fig.stem}]({fig.as_posix()})\n")
        parts.append(f"_section time: {seconds:.1f} s_\n")
    return "\n".join(parts)
