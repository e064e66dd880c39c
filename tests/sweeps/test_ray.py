"""The Ray executor on a local Ray instance (2 CPUs): same table as in-process, failures and dead workers recorded."""

import pytest

from infwidth.sweeps import RayExecutor, read_points, run_sweep

ray = pytest.importorskip("ray", reason="ray (the ray extra, pip install 'infwidth[ray]') is not installed")


@pytest.mark.slow  # a local Ray instance takes 10-30 s to start on this 2-CPU machine
def test_ray_matches_local_and_records_failures(tmp_path):
    spec = {
        "unit": "quadratic", "base": {"noise": 0.2, "fail_at_lr": 2.0**-8},
        "axes": {"param": ["mup", "sp"], "width": [64, 256], "lr": {"log2": [-10, -5]}, "seed": [0, 1]},
    }
    local = run_sweep(spec, tmp_path / "local", progress=False)
    ex = RayExecutor(workers=2, max_retries=1)  # ray.init(num_cpus=2), paid once for both sweeps
    try:
        assert ex.started and ex.workers == 2
        same = run_sweep(spec, tmp_path / "ray", executor=ex, progress=False)
        crashing = {**spec, "base": {**spec["base"], "crash_at_lr": 2.0**-6}}  # kills its worker (in-process it would kill us)
        crashed = run_sweep(crashing, tmp_path / "crash", executor=ex, progress=False)
    finally:
        ex.close()
    assert not ray.is_initialized()
    assert same["executor"] == "ray" and same["failed"] == local["failed"] == 8
    a, b = read_points(tmp_path / "local"), read_points(tmp_path / "ray")
    assert a == {k: {**r, "seconds": a[k]["seconds"]} for k, r in b.items()}  # identical but for timings
    assert crashed["ok"] == 32 and crashed["failed"] == 16
    died = [r for r in read_points(tmp_path / "crash").values() if r["axes"]["lr"] == 2.0**-6]
    assert len(died) == 8 and all(r["status"] == "failed" and "Worker" in r["error"] for r in died)
