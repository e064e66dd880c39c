"""Wall time of NNGP + NTK for N inputs of dimension 784: infwidth per thread count, side by side with
neural-tangents (its default threads) on the same inputs, in one run.

    python benchmarks/kernels.py [--sizes 1000,2000,4000] [--depths 1,3,10] [--threads 1,2] [--repeats 2]
                                 [--nt-python /tmp/ntvenv/bin/python] [--load 2]

Prints a markdown table: best-of-repeats seconds of infwidth at each ``--threads`` count (``0`` =
torch's default; a first row per size gives the floor, the first layer's Gram matmul ``x @ x.T``)
and of neural-tangents (``stax.serial(Dense, act, ...)``'s ``kernel_fn``, jitted,
compile excluded), the ratio neural-tangents / infwidth-at-the-CLI-default, and the largest relative
difference between the two libraries' kernels. neural-tangents runs in the Python given by
``--nt-python`` (default ``$INFWIDTH_NT_PYTHON``, else ``/tmp/ntvenv/bin/python`` when present) in a
subprocess, since it needs its own JAX; without it that column says why it is absent. ``--load K``
keeps K busy-looping processes running during the whole measurement (a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the infwidth CLI does; set ACTIVE to compare

import numpy as np  # noqa: E402
import torch  # noqa: E402

from infwidth.device import kernel_threads, machine_is_busy  # noqa: E402
from infwidth.limits.kernels import mlp_kernels  # noqa: E402

# Runs inside the neural-tangents interpreter. Its package __init__ imports the TensorFlow bridge
# (experimental.empirical_tf); stax does not need it, so a stub module stands in for it.
NT_SCRIPT = r"""
import json, sys, time, types
sys.modules["neural_tangents.experimental"] = types.ModuleType("neural_tangents.experimental")
import jax, numpy as np
if sys.argv[1] == "float64":
    jax.config.update("jax_enable_x64", True)
import neural_tangents as nt
from neural_tangents import stax
print(json.dumps({"neural_tangents": nt.__version__, "jax": jax.__version__}), flush=True)
fns, xs = {}, {}
for line in sys.stdin:  # one request per line: {"x": path, "dtype", "name", "depth"} -> seconds (+ a block)
    req = json.loads(line)
    key = (req["x"], req["dtype"])
    if key not in xs:
        xs[key] = jax.numpy.asarray(np.load(req["x"]).astype(req["dtype"]))
    x = xs[key]
    fkey = (req["name"], req["depth"])
    first = fkey not in fns
    if first:
        act = {"relu": stax.Relu, "erf": stax.Erf}[req["name"]]
        layers = []
        for _ in range(req["depth"]):
            layers += [stax.Dense(1, W_std=1.0), act()]
        _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.0))
        fns[fkey] = jax.jit(kernel_fn, static_argnames="get")
    fn = fns[fkey]
    if first or req.get("compile"):
        jax.block_until_ready(fn(x, None, get=("nngp", "ntk")))  # compile, not timed
    t = time.perf_counter()
    k = jax.block_until_ready(fn(x, None, get=("nngp", "ntk")))
    out = {"seconds": time.perf_counter() - t}
    if req.get("block"):
        out["nngp"] = np.asarray(k[0][:8, :8]).tolist()
        out["ntk"] = np.asarray(k[1][:8, :8]).tolist()
    print(json.dumps(out), flush=True)
"""


class NTWorker:
    """neural-tangents in its own interpreter, timing one case per request (so runs interleave with ours)."""

    def __init__(self, python: str, dtype: str) -> None:
        self.proc = subprocess.Popen([python, "-c", NT_SCRIPT, dtype], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"neural-tangents failed to start: {self.proc.stderr.read().strip()[-300:]}")
        self.versions = json.loads(line)

    def time(self, x_path: str, dtype: str, name: str, depth: int, block: bool = False) -> dict:
        req = {"x": x_path, "dtype": dtype, "name": name, "depth": depth, "block": block}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"neural-tangents failed: {self.proc.stderr.read().strip()[-300:]}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _best(fn, repeats: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _busy() -> None:  # pragma: no cover - a load generator
    x = 0
    while True:
        x += 1


def _nt_python(arg: str | None) -> tuple[str | None, str]:
    """The neural-tangents interpreter, or None and the reason it is absent."""
    candidates = [arg] if arg else [os.environ.get("INFWIDTH_NT_PYTHON"), "/tmp/ntvenv/bin/python"]
    for path in filter(None, candidates):
        if not Path(path).is_file():
            continue
        probe = subprocess.run([path, "-c", "import sys, types; sys.modules['neural_tangents.experimental'] = "
                                "types.ModuleType('x'); import neural_tangents"], capture_output=True, text=True)
        if probe.returncode == 0:
            return path, ""
        return None, f"{path} cannot import neural_tangents ({probe.stderr.strip().splitlines()[-1]})"
    return None, "no Python with neural-tangents (pass --nt-python or set INFWIDTH_NT_PYTHON)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,4000")
    ap.add_argument("--depths", default="1,3,10")
    ap.add_argument("--nonlinearities", default="relu,erf")
    ap.add_argument("--dtypes", default="float32")
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}",
                    help="comma list of torch thread counts to time infwidth at (0 = torch's default)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nt-python", default=None, help="Python interpreter with neural-tangents installed")
    ap.add_argument("--load", type=int, default=0, help="busy-looping processes to run alongside (a loaded machine)")
    args = ap.parse_args()
    from infwidth.device import resolve_device

    device = resolve_device(args.device)
    thread_list = [int(t) for t in args.threads.split(",")]
    nt_python, nt_reason = _nt_python(args.nt_python)
    hogs = [mp.Process(target=_busy, daemon=True) for _ in range(args.load)]
    for h in hogs:
        h.start()
    if hogs:
        time.sleep(65)  # let the 1-minute load average see the added load
    default = kernel_threads()
    if default not in thread_list:
        thread_list.append(default)
    torch_default = torch.get_num_threads()
    try:
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at start, {args.load} busy processes added; torch "
              f"{torch.__version__} (default {torch_default} threads), device {device}, OMP_WAIT_POLICY="
              f"{os.environ['OMP_WAIT_POLICY']}; machine busy: {machine_is_busy()}, so the infwidth kernel CLI "
              f"default is {default} thread(s)")
        heads = [f"infwidth {t or 'default'} thr (s)" for t in thread_list]
        print("| N | dtype | nonlinearity | depth | " + " | ".join(heads)
              + " | neural-tangents (s) | NT / infwidth CLI default | max rel. diff |")
        print("|" + "---|" * (7 + len(thread_list)))
        gen = torch.Generator().manual_seed(0)
        cases = [(nm, int(d)) for nm in args.nonlinearities.split(",") for d in args.depths.split(",")]
        workers = {}
        if nt_python is not None:
            try:
                workers = {d: NTWorker(nt_python, d) for d in args.dtypes.split(",")}
                v = next(iter(workers.values())).versions
                print(f"(neural-tangents {v['neural_tangents']}, jax {v['jax']}, XLA's default threads; each "
                      "repeat runs infwidth and neural-tangents back to back)")
            except RuntimeError as exc:
                nt_reason = str(exc)
        tmp = tempfile.TemporaryDirectory()
        for n in [int(s) for s in args.sizes.split(",")]:
            x64 = torch.randn(n, args.dim, generator=gen, dtype=torch.float64)
            x_path = str(Path(tmp.name) / f"x{n}.npy")
            np.save(x_path, x64.numpy())
            for dname in args.dtypes.split(","):
                dtype = getattr(torch, dname)
                x = x64.to(device=device, dtype=dtype)
                worker = workers.get(dname)
                floor = {}
                for t in thread_list:
                    torch.set_num_threads(t or torch_default)
                    floor[t] = _best(lambda x=x: x @ x.T, args.repeats)
                torch.set_num_threads(torch_default)
                print(f"| {n} | {dname} | (x @ x.T floor) | - | " + " | ".join(f"{floor[t]:.3f}" for t in thread_list)
                      + " | - | - | - |", flush=True)
                for name, depth in cases:
                    secs = {t: float("inf") for t in thread_list}
                    nt_best, block = float("inf"), None
                    for r in range(args.repeats):  # interleaved: both libraries see the same load
                        for t in thread_list:
                            torch.set_num_threads(t or torch_default)
                            secs[t] = min(secs[t], _best(lambda x=x, d=depth, nm=name, dt=dtype: mlp_kernels(
                                x, depth=d, nonlinearity=nm, dtype=dt, device=device), 1))
                        torch.set_num_threads(torch_default)
                        if worker is not None:
                            got = worker.time(x_path, dname, name, depth, block=r == 0)
                            nt_best = min(nt_best, got["seconds"])
                            block = block or got
                    row = [str(n), dname, name, str(depth)] + [f"{secs[t]:.3f}" for t in thread_list]
                    if worker is None:
                        row += [f"absent: {nt_reason}" if nt_reason else "absent", "-", "-"]
                    else:
                        k = mlp_kernels(x[:8], depth=depth, nonlinearity=name, dtype=torch.float64).numpy()
                        diff = max(float(np.max(np.abs(k[key] - np.asarray(block[key])) / np.max(np.abs(k[key]))))
                                   for key in ("nngp", "ntk"))
                        row += [f"{nt_best:.3f}", f"{nt_best / secs[default]:.2f}", f"{diff:.1e}"]
                    print("| " + " | ".join(row) + " |", flush=True)
        for w in workers.values():
            w.close()
        tmp.cleanup()
    finally:
        for h in hogs:
            h.terminate()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
