"""``infwidth kernel`` end to end through ``infwidth.cli.main``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infwidth.cli import main
from infwidth.limits.kernels import mlp_kernels


def _save(path: Path, arr: np.ndarray) -> str:
    np.save(path, arr)
    return str(path)


def test_kernel_cli_writes_both_kernels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x1 = _save(tmp_path / "a.npy", rng.normal(size=(7, 4)))
    x2 = _save(tmp_path / "b.npy", rng.normal(size=(3, 4)))
    out = tmp_path / "k.npz"
    code = main(["kernel", "--x1", x1, "--x2", x2, "--depth", "2", "--nonlinearity", "leaky_relu:0.1",
                 "--w-std", "1.5", "--b-std", "0.1", "--out-w-std", "2", "--out-b-std", "0", "--out", str(out)])
    assert code == 0
    data = np.load(out)
    assert set(data.files) == {"nngp", "ntk"}
    ref = mlp_kernels(np.load(x1), np.load(x2), depth=2, nonlinearity="leaky_relu:0.1", w_std=1.5, b_std=0.1,
                      out_w_std=2.0, out_b_std=0.0)
    for name in ("nngp", "ntk"):
        assert data[name].dtype == np.float64 and data[name].shape == (7, 3)
        np.testing.assert_allclose(data[name], getattr(ref, name).numpy(), rtol=1e-13)


def test_kernel_cli_defaults_x2_and_readout(tmp_path: Path) -> None:
    x1 = _save(tmp_path / "a.npy", np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32))
    out = tmp_path / "k.npz"
    assert main(["kernel", "--x1", x1, "--depth", "1", "--nonlinearity", "erf", "--w-std", "1.2",
                 "--b-std", "0.5", "--out", str(out)]) == 0
    data = np.load(out)
    ref = mlp_kernels(np.load(x1), depth=1, nonlinearity="erf", w_std=1.2, b_std=0.5)
    np.testing.assert_allclose(data["ntk"], ref.ntk.numpy(), rtol=1e-13)
    np.testing.assert_allclose(data["nngp"], data["nngp"].T)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"--nonlinearity": "swish"}, "unknown nonlinearity"),
        ({"--w-std": "-1"}, "--w-std"),
        ({"--b-std": "nan"}, "--b-std"),
        ({"--depth": "two"}, "--depth"),
        ({"--nonlinearity": "leaky_relu:x"}, "leaky_relu"),
        ({"--x2": "b_wrong.npy"}, "same input dimension"),
        ({"--x1": "nan.npy"}, "NaN"),
        ({"--x1": "missing.npy"}, "no such file"),
        ({"--x1": "flat.npy"}, "2-D"),
        ({"--out": "."}, "is a directory"),
    ],
)
def test_kernel_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], change, needle) -> None:  # noqa: ANN001
    rng = np.random.default_rng(2)
    _save(tmp_path / "a.npy", rng.normal(size=(4, 3)))
    _save(tmp_path / "b_wrong.npy", rng.normal(size=(4, 5)))
    bad = rng.normal(size=(4, 3))
    bad[1, 2] = np.nan
    _save(tmp_path / "nan.npy", bad)
    _save(tmp_path / "flat.npy", rng.normal(size=6))
    args = {"--x1": "a.npy", "--depth": "2", "--nonlinearity": "relu", "--w-std": "1", "--b-std": "0",
            "--out": "k.npz"}
    args.update(change)
    argv = ["kernel"]
    for flag, value in args.items():
        path_like = flag in ("--x1", "--x2", "--out")
        argv += [flag, str(tmp_path / value) if path_like else value]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infwidth: error:") and "\n" not in err
    assert needle in err
    assert not (tmp_path / "k.npz").exists()


def test_kernel_converge_command(tmp_path):
    """``infwidth kernel-converge`` (was ``python -m infwidth.limits.kernels.checks``) writes results and a plot."""
    import json

    from infwidth.cli import main

    out = tmp_path / "kc"
    assert main(["kernel-converge", "--out", str(out), "--widths", "16,64", "--seeds", "1", "--steps", "2"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert len(res) == 2 and all(len(v["gaps"]) == 2 for v in res.values())
    assert (out / "gap_vs_width.png").stat().st_size > 0
    assert main(["kernel-converge", "--out", str(out), "--widths", "16,32", "--seeds", "1", "--steps", "2"]) == 2
