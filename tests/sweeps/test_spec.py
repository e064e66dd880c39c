"""Sweep definitions: grids, samples, stable keys, named sweeps, and one-line errors for bad input."""

import json
import math

import pytest

from infwidth.errors import UserError
from infwidth.sweeps import Sweep, load_sweep, point_key, register_unit, resolve_unit
from infwidth.sweeps.units import UNITS

BASE = {"unit": "quadratic", "axes": {"width": [64, 128], "lr": {"log2": [-4, -2], "step": 1}, "seed": [0, 1, 2]}}


def test_grid_has_every_combination_with_full_configs():
    points = Sweep.from_dict(BASE).points()
    assert len(points) == 2 * 3 * 3
    assert {p.axes["lr"] for p in points} == {2.0**-4, 2.0**-3, 2.0**-2}
    assert all(p.config["center"] == -8.0 and "noise" in p.config for p in points)  # defaults filled in
    assert len({p.key for p in points}) == len(points)


def test_keys_are_stable_and_depend_on_unit_and_config():
    a = Sweep.from_dict(BASE).points()
    b = Sweep.from_dict(json.loads(json.dumps(BASE))).points()
    assert [p.key for p in a] == [p.key for p in b]
    assert point_key("quadratic", {"x": 1}) != point_key("mlp-adam", {"x": 1})
    assert point_key("quadratic", {"x": 1, "y": 2}) == point_key("quadratic", {"y": 2, "x": 1})


def test_random_sample_is_a_seeded_subset():
    full = {p.key for p in Sweep.from_dict(BASE).points()}
    s1 = Sweep.from_dict({**BASE, "sample": {"n": 5, "seed": 3}}).points()
    s2 = Sweep.from_dict({**BASE, "sample": {"n": 5, "seed": 3}}).points()
    s3 = Sweep.from_dict({**BASE, "sample": {"n": 5, "seed": 4}}).points()
    assert len(s1) == 5 and {p.key for p in s1} <= full
    assert [p.key for p in s1] == [p.key for p in s2]
    assert [p.key for p in s1] != [p.key for p in s3]


def test_log2_axis_endpoints_included():
    sweep = Sweep.from_dict({"unit": "quadratic", "axes": {"lr": {"log2": [-10, -1], "step": 0.5}}})
    xs = [math.log2(v) for v in sweep.axes["lr"]]
    assert xs[0] == -10 and xs[-1] == -1 and len(xs) == 19


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({**BASE, "axes": {"depthh": [1, 2]}}, "unknown axis or config field 'depthh'"),
        ({**BASE, "base": {"nosie": 0.1}}, "unknown axis or config field 'nosie'"),
        ({**BASE, "axes": {"width": []}}, "axis 'width' is empty"),
        ({"unit": "quadratic", "axes": {}}, "grid is empty"),
        ({"unit": "quadratic"}, "grid is empty"),
        ({"axes": {"lr": [1]}}, "names no unit"),
        ({"unit": "no-such-unit", "axes": {"lr": [1]}}, "unknown unit 'no-such-unit'"),
        ({**BASE, "colour": 1}, "unknown sweep key 'colour'"),
        ({**BASE, "base": {"width": 3}}, "both a base field and an axis"),
        ({**BASE, "transfer": {"lr": "rate"}}, "[transfer] lr = 'rate' is not an axis"),
        ({**BASE, "sample": {"n": 0}}, "[sample] needs n"),
        ({**BASE, "axes": {"lr": {"log2": [-1, -4]}}}, "LOW <= HIGH"),
    ],
)
def test_bad_sweeps_are_one_line_user_errors(data, fragment):
    with pytest.raises(UserError) as err:
        Sweep.from_dict(data)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_files_and_named_sweeps(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('unit = "quadratic"\n[axes]\nwidth = [64, 128]\nlr = {log2 = [-3, -1]}\n')
    assert len(load_sweep(toml).points()) == 6
    js = tmp_path / "s.json"
    js.write_text(json.dumps(BASE))
    assert load_sweep(js).name == "s" and len(load_sweep(js).points()) == 18
    tiny = load_sweep("transfer-tiny")
    assert tiny.name == "transfer-tiny" and tiny.transfer is not None and set(tiny.axes["param"]) == {"mup", "sp"}
    with pytest.raises(UserError, match="no sweep config file"):
        load_sweep(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("unit = \n")
    with pytest.raises(UserError, match="cannot read sweep config"):
        load_sweep(bad)


def test_units_register_lazily_by_import_path():
    register_unit("test-later", "infwidth_no_such_module:f")  # registering imports nothing
    try:
        with pytest.raises(UserError, match="cannot import unit module"):
            resolve_unit("test-later")
        with pytest.raises(UserError, match="already registered"):
            register_unit("test-later", "other:f")
    finally:
        UNITS.pop("test-later")
    unit = resolve_unit("infwidth.sweeps.toy:quadratic")  # a path works without registering
    assert "lr" in unit.fields()
    with pytest.raises(UserError, match="module:function"):
        register_unit("x", "no_colon")


def test_every_shipped_sweep_validates_and_names_its_transfer_axes():
    from infwidth.sweeps.named import NAMED

    for name in NAMED:
        sweep = load_sweep(name)
        points = sweep.points()
        assert len(points) == len({p.key for p in points}) > 0, name
        if sweep.transfer is not None:
            assert {sweep.transfer.width, sweep.transfer.lr} <= set(sweep.axes), name
    gpt = load_sweep("transfer-gpt-cpu")
    widths = sorted({p.config["train"]["model"]["d_model"] for p in gpt.points()})
    assert widths == gpt.axes["train.model.d_model"] and len(gpt.points()) == 288
