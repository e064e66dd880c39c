"""The tour's transfer section: a small sweep's plumbing (fast) and the real verdicts (slow)."""

import pytest

from infwidth.sweeps.named import NAMED, TRANSFER_TINY
from infwidth.tour import TourContext, run_section


def test_section_runs_a_sweep_and_reports_verdicts(tmp_path, monkeypatch):
    small = {**TRANSFER_TINY, "base": {**TRANSFER_TINY["base"], "steps": 3, "train_chars": 5000, "val_chars": 1000},
             "axes": {"param": ["mup", "sp"], "width": [16, 32], "lr": {"log2": [-6, -2], "step": 2}, "seed": [0]}}
    monkeypatch.setitem(NAMED, "transfer-small", small)
    monkeypatch.setattr("infwidth.tour.transfer.SWEEP", "transfer-small")
    res, _ = run_section("transfer", TourContext(out=tmp_path, device="cpu"))
    assert res.numbers["points"] == 12 and set(res.numbers) >= {"mup", "sp"}
    assert all(f.stat().st_size > 0 for f in res.figures)
    assert "| mup |" in res.markdown and "| sp |" in res.markdown
    assert (tmp_path / "transfer" / "results.csv").exists()


@pytest.mark.slow
def test_transfer_tiny_mup_passes_and_sp_fails(tmp_path):
    """The shipped experiment (a few minutes on 2 CPUs): muP's optimum stays put, SP's drifts."""
    res, _ = run_section("transfer", TourContext(out=tmp_path, device="cpu"))
    assert res.numbers["mup"]["pass"] is True
    assert res.numbers["sp"]["pass"] is False and res.numbers["sp"]["drift_per_doubling"] < -0.25
