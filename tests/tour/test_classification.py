"""Tour section 1 (classification): the paper's table as computed, saved with its figure."""

from infwidth.tour import TourContext
from infwidth.tour.classification import run


def test_classification_section(tmp_path):
    res = run(TourContext(out=tmp_path))
    out = tmp_path / "classification"
    for name in ("named_L1.md", "named_L3.md", "named.json", "exponents_L3.md", "phase_diagram.png"):
        assert (out / name).stat().st_size > 0
    n = res.numbers
    assert n["r"]["SP (L=1)"] == "0" and n["r"]["SP (L=3)"] == "-1"
    assert n["r"]["SP, lr ~ 1/n (L=1)"] == "3/2" and n["r"]["SP, lr ~ 1/n (L=3)"] == "1/2"
    assert n["regime"]["muP (L=3)"] == "feature-learning" and n["regime"]["NTP (L=3)"] == "kernel"
    assert n["kernel"]["SP, lr ~ 1/n (L=3)"] == [2, 3, 4]
    assert n["symmetry_checks"] > 0 and n["symmetry_mismatches"] == 0
    assert n["phase_diagram_counts"]["feature-learning"] > 0 and n["phase_diagram_counts"]["kernel"] > 0
    assert "| muP |" in res.markdown and res.figures == [out / "phase_diagram.png"]
