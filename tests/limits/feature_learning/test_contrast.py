"""muP vs NTP on the same task (finite AbcMLP nets): features move Theta(1) vs n^{-1/2}."""

import pytest

from infwidth.limits.feature_learning.contrast import run_contrast


def test_mup_features_move_and_ntp_features_freeze():
    res = run_contrast(widths=(64, 256, 1024, 4096), steps=10, seeds=8)
    mup, ntp = res.movement["mup"], res.movement["ntp"]
    assert min(mup) > 0.5 and max(mup) / min(mup) < 1.5  # Theta(1), flat in width
    assert abs(res.feature_slopes["mup"]) < 0.1
    assert res.feature_slopes["ntp"] == pytest.approx(-0.5, abs=0.15)  # Delta x^L = Theta(n^{-1/2}) in NTP
    assert res.slopes["ntp"] < -0.4 and ntp[-1] < 0.02  # the kernel freezes (measured ~ n^{-1})
    # the muP nets approach the mean-field limit's movement (a cross-check of two codebases)
    assert mup[-1] == pytest.approx(res.limit_movement, rel=0.1)
