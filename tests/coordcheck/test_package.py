"""The coordinate check as a package: the unit of work, generic hook measurement, per-nonlinearity predictions."""

import json
import pickle
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from infwidth.coordcheck import (
    CoordCheckConfig,
    measure,
    predicted_sizes,
    prediction_note,
    run_config,
    run_coordcheck,
    run_point,
)
from infwidth.errors import UserError
from infwidth.parametrizations import mup, sp


@pytest.mark.parametrize(
    "kw",
    [
        dict(),  # fast low-rank path
        dict(nested=False, lowrank=False, nonlinearity="tanh"),  # torch.optim through hooks
        dict(optimizer="adam", lr=0.01, nonlinearity="gelu"),
    ],
)
def test_run_point_gives_the_numbers_of_the_loop(kw):
    config = CoordCheckConfig(mup(2), (32, 64), steps=2, seeds=2, d_in=8, d_out=3, seed=5, **kw)
    config = pickle.loads(pickle.dumps(config))  # picklable: can be sent to a worker
    cc = run_config(config)
    for i, n in enumerate(config.widths):
        for s, seed in enumerate(config.seed_list):
            point = json.loads(json.dumps(run_point(config, n, seed), allow_nan=False))  # serialisable
            np.testing.assert_array_equal(np.array(point["sizes"], dtype=float), cc.sizes[i, s])
            assert point["names"] == cc.names and point["divergence"] is None


def test_run_point_reports_a_divergence_as_data():
    config = CoordCheckConfig(sp(2), (64, 128), steps=3, seeds=1, lr=1e38, d_in=8, d_out=2)
    point = run_point(config, 64, 0)
    assert point["divergence"]["step"] == 1 and point["sizes"][2][0] is None


def test_config_validates_in_one_line():
    for bad in (dict(widths=(64,)), dict(loss="hinge"), dict(nonlinearity="swish"), dict(dtype="int8"),
                dict(fit_from=4096)):
        args = dict(widths=(32, 64)) | bad
        with pytest.raises(UserError) as err:
            CoordCheckConfig(mup(1), **args)
        assert "\n" not in str(err.value)
    assert CoordCheckConfig(mup(1), (32, 64), loss="xent").loss == "cross_entropy"


def test_measure_works_on_any_module_through_forward_hooks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.arange(8) % 3
    before = [model[0](x).detach(), model[1](model[0](x)).detach()]
    sizes, div = measure(model, x, y, torch.optim.SGD(model.parameters(), lr=0.1), steps=2,
                         quantities={"h": "0", "x": "1", "f": "2"})
    assert div is None and sizes.shape == (3, 6)
    rms = [float(t.pow(2).mean().sqrt()) for t in before]
    np.testing.assert_allclose(sizes[0, :2], rms)
    assert np.all(sizes[0, 3:] == 0) and np.all(sizes[1:, 3:] > 0)  # changes: zero at step 0, then moving
    with pytest.raises(UserError):
        measure(model, x, y, torch.optim.SGD(model.parameters(), lr=0.1), 1, quantities={"h": "nope"})


@pytest.mark.parametrize("phi", ["tanh", "gelu"])
def test_coordinate_check_compares_with_its_own_nonlinearitys_prediction(phi):
    # SP, c = 0, depth 2 at a rate large enough that Delta h^2 ~ n^{1/2} >> 1 at every width: gelu keeps
    # growing like relu (Delta x^2 ~ n^{1/2}, Delta f ~ n^{3/2}), tanh saturates (Delta x^2 ~ n^0,
    # Delta f ~ n^{1/2}). Before, GELU and tanh runs were compared with relu's numbers.
    p = sp(2)
    own, relu = predicted_sizes(p, 1, phi=phi), predicted_sizes(p, 1, phi="relu")
    cc = run_coordcheck(p, [128, 256, 512, 1024], steps=1, seeds=3, lr=30.0, d_in=16, nonlinearity=phi)
    assert cc.predicted == own
    rows = {r.quantity: r for r in cc.rows() if r.step == 1}
    for q in ("dh2", "dx2", "df"):
        assert rows[q].status == "pass", (q, rows[q].fitted, rows[q].predicted)
    if phi == "tanh":
        assert own[(1, "dx2")] == 0 and relu[(1, "dx2")] == Fraction(1, 2)
        assert abs(rows["dx2"].fitted - 0.5) > 0.3 and abs(rows["df"].fitted - 1.5) > 0.5  # relu's would fail
    else:
        assert own == relu  # gelu grows linearly: relu's rule is its own


def test_sin_says_what_it_cannot_predict():
    assert prediction_note("relu") is None and prediction_note("tanh") is None
    assert "sin" in prediction_note("sin") and "\n" not in prediction_note("sin")
    pred = predicted_sizes(sp(2), 1, phi="sin")
    assert pred[(1, "dx2")] is None  # the rules disagree past the blow-up
    assert pred[(1, "dh1")] == predicted_sizes(sp(2), 1)[(1, "dh1")]  # where they agree, predicted
    stable = predicted_sizes(mup(2), 2, phi="sin")
    assert stable == predicted_sizes(mup(2), 2)  # nothing blows up in muP: fully predicted
