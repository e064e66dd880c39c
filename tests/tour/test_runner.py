"""The tour as the README runs it: sections in order, report.md + report.json + figures."""

import json

import pytest

from infwidth.cli import main
from infwidth.tour import SECTIONS, available_sections


def test_every_section_is_present():
    assert available_sections() == list(SECTIONS)


def test_tour_writes_report_for_selected_sections(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path), "--only", "classification"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report["sections"]) == ["classification"]
    section = report["sections"]["classification"]
    assert section["numbers"]["regime"]["muP (L=3)"] == "feature-learning"
    for fig in section["figures"]:
        assert (tmp_path / fig).stat().st_size > 0
    text = (tmp_path / "report.md").read_text()
    assert "| muP |" in text and "(classification/phase_diagram.png)" in text
    assert report["versions"]["infwidth"]


@pytest.mark.slow
def test_full_tour(tmp_path):
    """The README's main job end to end (about 1 minute on 2 CPUs)."""
    assert main(["tour", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report["sections"]) == list(SECTIONS)
    for name, section in report["sections"].items():
        assert section["figures"], f"section {name} saved no figure"
        for fig in section["figures"]:
            assert (tmp_path / fig).stat().st_size > 0, fig
