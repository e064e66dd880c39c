"""muP vs NTP on the same task (finite AbcMLP nets): features move Theta(1) vs n^{-1/2}."""

import pytest

from infwidth.studies.contrast import run_contrast


def test_mup_features_move_and_ntp_features_freeze():
    res = run_contrast(widths=(64, 256, 1024, 4096), steps=10, seeds=8)
    mup, ntp = res.movement["mup"], res.movement["ntp"]
    assert min(mup) > 0.5 and max(mup) / min(mup) < 1.5  # Theta(1), flat in width
    assert abs(res.feature_slopes["mup"]) < 0.1
    assert res.feature_slopes["ntp"] == pytest.approx(-0.5, abs=0.15)  # Delta x^L = Theta(n^{-1/2}) in NTP
    assert res.slopes["ntp"] < -0.4 and ntp[-1] < 0.02  # the kernel freezes (measured ~ n^{-1})
    # the muP nets approach the mean-field limit's movement (a cross-check of two codebases)
    assert mup[-1] == pytest.approx(res.limit_movement, rel=0.1)


def test_unit_of_work_gives_the_loops_numbers():
    import json
    import pickle

    import numpy as np

    from infwidth.studies.contrast import ContrastConfig, ContrastPoint, contrast_point

    res = run_contrast(widths=(32, 64), steps=2, seeds=2)
    cfg = ContrastConfig((32, 64), steps=2, seeds=2)
    for name in ("mup", "ntp"):
        for w_i, width in enumerate((32, 64)):
            outs = [json.loads(json.dumps(contrast_point(pickle.loads(pickle.dumps(ContrastPoint(cfg, name, width, s))))))
                    for s in range(2)]
            assert float(np.mean([o["kernel_movement"] for o in outs])) == res.movement[name][w_i]
            assert float(np.mean([o["feature_movement"] for o in outs])) == res.feature_movement[name][w_i]
