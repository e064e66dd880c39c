"""Fault injection: every command against every class of fault a user can cause.

Each fault must end in exactly one stderr line (``infwidth: error: ...``, no traceback), exit code 2
(130 for an interrupt), nothing created when the start fails, and no finished result lost or
overwritten. Commands run in-process through ``infwidth.cli.main``; only locks and signals use
subprocesses.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from infwidth.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


# ---------------------------------------------------------------------------------------- helpers
def stderr_lines(err: str) -> list[str]:
    """What a terminal would show: the last carriage-return segment of each line, blanks and progress
    bars (``NN%|...``, which a pipe may get on lines of their own) dropped."""
    segs = (line.split("\r")[-1].strip() for line in err.split("\n"))
    return [seg for seg in segs if seg and not re.search(r"\d+%\|", seg)]


def one_error(capsys, argv: list[str], *needles: str, code: int = 2) -> str:
    """Run ``argv``; assert exit ``code``, exactly one stderr line, no traceback, and every needle in it."""
    got = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = stderr_lines(err)
    assert got == code, (got, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("infwidth: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (but the lock) with its bytes: a finished run, to check nothing changed."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
            and p.name != ".lock"}


@pytest.fixture(autouse=True)
def _no_data_dir(monkeypatch, tmp_path):
    """No data directory: maml uses the shipped sample (fast), nothing reads the real data."""
    monkeypatch.delenv("INFWIDTH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    words = [f"w{c}" for c in "abcdefghijklmnopqrst"]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(" ".join(words[i] for i in rng.integers(0, len(words), 3000)))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("x") / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((5, 3)))
    return path


def writers(out: Path, corpus: Path, inputs: Path) -> dict[str, list[str]]:
    """A fast, correct invocation of every command that writes, into ``out``."""
    return {
        "converge": ["converge", "--model", "linear1", "--widths", "16,32", "--seeds", "1", "--steps", "1",
                     "--out", out],
        "coordcheck": ["coordcheck", "--preset", "mup", "--depth", "1", "--widths", "32,64", "--steps", "1",
                       "--seeds", "1", "--d-in", "4", "--no-plots", "--out", out],
        "kernel": ["kernel", "--x1", inputs, "--depth", "1", "--nonlinearity", "relu", "--w-std", "1",
                   "--b-std", "0", "--out", out / "k.npz" if out.suffix != ".npz" else out],
        "word2vec train": ["word2vec", "train", "--config", "tiny", "--corpus", corpus, "--models", "mup:8",
                           "--epochs", "1", "--min-count", "1", "--vocab-cap", "none", "--no-progress",
                           "--out", out],
        "maml train": ["maml", "train", "--width", "8", "--epochs", "1", "--batches", "1", "--val-batches", "1",
                       "--test-batches", "1", "--meta-batch", "2", "--threads", "1", "--out", out],
        "tour": ["tour", "--only", "classification", "--out", out],
        "kernel-converge": ["kernel-converge", "--widths", "16,32", "--seeds", "1", "--steps", "1", "--out", out],
    }


DIR_WRITERS = ("converge", "coordcheck", "word2vec train", "maml train", "tour", "kernel-converge")
RESUMABLE = ("converge", "word2vec train", "maml train")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, corpus, inputs) -> dict[str, Path]:
    """One finished run of every resumable command (and a kernel file), made once for the module."""
    base = tmp_path_factory.mktemp("finished")
    saved = os.environ.pop("INFWIDTH_DATA", None)
    try:
        runs = {}
        for name in (*RESUMABLE, "coordcheck"):
            out = base / name.replace(" ", "-")
            assert main([str(a) for a in writers(out, corpus, inputs)[name]]) in (0, 1), name
            runs[name] = out
        assert main([str(a) for a in writers(base / "k.npz", corpus, inputs)["kernel"]]) == 0
        runs["kernel"] = base / "k.npz"
    finally:
        if saved is not None:
            os.environ["INFWIDTH_DATA"] = saved
    return runs


def copy_run(finished: dict[str, Path], name: str, tmp_path: Path) -> Path:
    dest = tmp_path / f"copy-{name.replace(' ', '-')}"
    shutil.copytree(finished[name], dest)
    return dest


# ------------------------------------------------------------------------------- 1. output paths
@pytest.mark.parametrize("command", [*DIR_WRITERS, "kernel"])
def test_out_is_an_existing_file(command, tmp_path, capsys, corpus, inputs):
    target = tmp_path / ("taken.npz" if command == "kernel" else "taken")
    target.write_text("precious")
    argv = writers(target, corpus, inputs)[command]
    if command == "kernel":  # a file --out is what kernel writes: an existing *directory* is the fault
        target.unlink()
        target.mkdir()
        one_error(capsys, argv, str(target), "is a directory")
        return
    one_error(capsys, argv, str(target), "existing file")
    assert target.read_text() == "precious"


@pytest.mark.parametrize("command", [*DIR_WRITERS, "kernel"])
def test_out_under_a_file(command, tmp_path, capsys, corpus, inputs):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "sub" / ("k.npz" if command == "kernel" else "run")
    one_error(capsys, writers(target, corpus, inputs)[command], str(blocker), "lies under the file")
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("command", [*DIR_WRITERS, "kernel"])
def test_out_not_writable(command, tmp_path, capsys, corpus, inputs, monkeypatch):
    """A read-only file system (simulated: creating any file there fails with EROFS)."""
    real = tempfile.mkstemp

    def read_only(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, **kwargs)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    target = tmp_path / "ro" / ("k.npz" if command == "kernel" else "run")
    one_error(capsys, writers(target, corpus, inputs)[command], str(target), "read-only file system")
    assert list((tmp_path / "ro").iterdir()) == []


@pytest.mark.skipif(os.access("/sys", os.W_OK) and os.geteuid() != 0, reason="needs an unwritable /sys")
def test_out_in_a_real_unwritable_folder(tmp_path, capsys, corpus, inputs):
    probe = Path("/sys") / "infwidth-probe"
    try:
        probe.mkdir()
    except OSError:
        pass
    else:  # pragma: no cover - a writable /sys
        probe.rmdir()
        pytest.skip("/sys is writable here")
    one_error(capsys, writers(Path("/sys/infwidth-run"), corpus, inputs)["converge"], "/sys", "cannot write")


def test_unsupported_file_extension(finished, tmp_path, capsys, inputs):
    one_error(capsys, ["maml", "eval", finished["maml train"], "--plot", tmp_path / "acc.pdf"], "--plot",
              "unsupported file type")
    one_error(capsys, ["word2vec", "pca", "--run", finished["word2vec train"], "--out", tmp_path / "figure.svg"],
              "--out", "unsupported file type")
    one_error(capsys, ["kernel", "--x1", inputs, "--depth", "1", "--nonlinearity", "relu", "--w-std", "1",
                       "--b-std", "0", "--out", tmp_path / "kernels.txt"], "--out", "unsupported file type")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- 2. corrupt and foreign state
CORRUPTIONS = {
    "empty": b"",
    "truncated": None,  # the first half of the real file
    "wrong type": b'["a", "list"]',
}


@pytest.mark.parametrize("kind", [pytest.param("empty", marks=pytest.mark.slow), "truncated", "wrong type"])
@pytest.mark.parametrize("command", RESUMABLE)
def test_corrupt_run_json(kind, command, finished, tmp_path, capsys, corpus, inputs):
    run = copy_run(finished, command, tmp_path)
    record = run / "run.json"
    data = CORRUPTIONS[kind]
    record.write_bytes(record.read_bytes()[: len(record.read_bytes()) // 2] if data is None else data)
    argv = writers(run, corpus, inputs)[command]
    one_error(capsys, argv + ["--resume"], "run.json", "--overwrite")
    assert main([str(a) for a in argv + ["--overwrite"]]) == 0  # --overwrite always replaces it
    assert json.loads(record.read_text())["status"] == "finished"


@pytest.mark.parametrize("kind", [pytest.param("empty", marks=pytest.mark.slow), "truncated", "wrong type"])
@pytest.mark.parametrize(("command", "state"), [
    ("converge", "partial.json"),
    ("maml train", "checkpoint.pt"),
    ("word2vec train", "mup-8/checkpoint.pt"),
])
def test_corrupt_checkpoint_on_resume(kind, command, state, finished, tmp_path, capsys, corpus, inputs):
    run = copy_run(finished, command, tmp_path)
    record = json.loads((run / "run.json").read_text())
    record["status"] = "running"
    (run / "run.json").write_text(json.dumps(record))
    if command == "word2vec train":  # an unfinished model: no result yet
        (run / "mup-8" / "result.json").unlink()
        (run / "mup-8" / "vectors.pt").unlink()
    path = run / state
    if command == "converge":
        path.write_text(json.dumps({"16": [[0.1, 0.2], [0.3, 0.4]]}))
    elif command == "word2vec train":
        torch.save({"model": {}, "epoch": 0, "batch": 0}, path)
    good = path.read_bytes()
    data = CORRUPTIONS[kind]
    path.write_bytes(good[: len(good) // 2] if data is None else data)
    argv = writers(run, corpus, inputs)[command]
    one_error(capsys, argv + ["--resume"], state.split("/")[-1], "--overwrite")
    assert main([str(a) for a in argv + ["--overwrite"]]) == 0


def test_corrupt_vectors_and_accuracies(finished, tmp_path, capsys):
    w2v = copy_run(finished, "word2vec train", tmp_path)
    (w2v / "mup-8" / "vectors.pt").write_bytes(b"not a torch file")
    one_error(capsys, ["word2vec", "eval", "--run", w2v], "vectors.pt", "--resume")
    torch.save({"words": ["a"], "emb": "oops"}, w2v / "mup-8" / "vectors.pt")
    one_error(capsys, ["word2vec", "eval", "--run", w2v], "vectors.pt")
    maml = copy_run(finished, "maml train", tmp_path)
    (maml / "test_accuracies.npy").write_bytes(b"")
    one_error(capsys, ["maml", "eval", maml], "test_accuracies.npy")
    np.save(maml / "test_accuracies.npy", np.ones(3) * 1j)
    one_error(capsys, ["maml", "eval", maml], "test_accuracies.npy", "complex")
    (maml / "checkpoint.pt").write_bytes(b"\x80\x04truncated")
    one_error(capsys, ["maml", "eval", maml, "--test-steps", "2"], "checkpoint.pt")


@pytest.mark.parametrize(("command", "other"), [
    (["word2vec", "eval", "--run"], "maml train"),
    (["word2vec", "pca", "--run"], "converge"),
    (["maml", "eval"], "word2vec train"),
    (["maml", "eval"], "coordcheck"),
])
def test_run_dir_of_another_command(command, other, finished, capsys):
    before = snapshot(finished[other])
    one_error(capsys, [*command, finished[other]], str(finished[other]))
    assert snapshot(finished[other]) == before


@pytest.mark.parametrize("command", RESUMABLE)
def test_resume_in_a_foreign_run_dir_is_refused_and_loses_nothing(command, finished, tmp_path, capsys, corpus,
                                                                    inputs):
    other = "coordcheck" if command != "coordcheck" else "converge"
    run = copy_run(finished, other, tmp_path)
    before = snapshot(run)
    one_error(capsys, writers(run, corpus, inputs)[command] + ["--resume"], "different config", "--overwrite")
    one_error(capsys, writers(run, corpus, inputs)[command], "already holds a run", "--overwrite")
    assert snapshot(run) == before


@pytest.mark.parametrize("content", ["npz", "empty", "complex", "nan", "object", "text"])
def test_kernel_bad_input_files(content, tmp_path, capsys):
    path = tmp_path / "x.npy"
    if content == "npz":
        np.savez(path.with_suffix(".npz"), a=np.ones((2, 2)))
        path = path.with_suffix(".npz")
    elif content == "empty":
        path.write_bytes(b"")
    elif content == "complex":
        np.save(path, np.ones((3, 2)) * (1 + 1j))
    elif content == "nan":
        np.save(path, np.array([[1.0, np.nan], [0.0, 1.0]]))
    elif content == "object":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    else:
        path.write_text("1 2 3\n4 5 6\n")
    out = tmp_path / "k.npz"
    one_error(capsys, ["kernel", "--x1", path, "--depth", "1", "--nonlinearity", "relu", "--w-std", "1",
                       "--b-std", "0", "--out", out], str(path))
    assert not out.exists()


# --------------------------------------------------------------- 3. non-finite and diverging runs
def float_options() -> list[tuple[str, str]]:
    """(command path, flag) of every float-typed option of every command, found from the app itself."""
    from typer.main import get_command

    from infwidth.cli import app

    found = []

    def walk(cmd, path):  # noqa: ANN001
        for p in cmd.params:
            desc = getattr(p, "type_descriptor", None)
            ann = getattr(desc, "annotation", None)
            if ann is float or ann == (float | None) or str(ann) in ("float", "typing.Optional[float]"):
                found.append((path, max(p.opts, key=len)))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(get_command(app), "")
    return found


def test_float_options_are_found():
    assert ("maml train", "--meta-lr") in float_options()


NUMBER_TEXT_OPTIONS = [  # options typed as text and parsed as numbers by the command
    ("kernel", "--w-std"), ("kernel", "--b-std"), ("coordcheck", "--lr"), ("coordcheck", "--tolerance"),
    ("converge", "--lr"), ("word2vec train", "--lr"), ("word2vec train", "--checkpoint-minutes"),
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_option_rejects_non_finite(value, tmp_path, capsys, corpus, inputs):
    out = tmp_path / "run"
    argv_of = writers(out, corpus, inputs)
    for command, flag in float_options() + NUMBER_TEXT_OPTIONS:
        argv = argv_of[command] if command in argv_of else command.split()
        one_error(capsys, [*argv, flag, value], flag)
        assert not out.exists(), (command, flag)


@pytest.mark.parametrize(("command", "extra", "needle"), [
    ("converge", ["--lr", "1e30", "--steps", "3"], "SGD step"),
    ("word2vec train", ["--lr", "1e30"], "epoch 1, batch"),
    ("maml train", ["--meta-lr", "1e30", "--batches", "2"], "meta-batch"),
])
def test_divergence_is_reported_not_a_result(command, extra, needle, tmp_path, capsys, corpus, inputs):
    out = tmp_path / "run"
    line = one_error(capsys, writers(out, corpus, inputs)[command] + extra, "training diverged", needle)
    assert "learning rate" in line
    record = json.loads((out / "run.json").read_text())
    assert record["status"] != "finished" and "results" not in record


# ---------------------------------------------------------------------------------- 4. devices
DEVICE_COMMANDS = ("converge", "coordcheck", "word2vec train", "maml train", "tour")


@pytest.mark.parametrize("device", ["bogus", "cuda:7" if torch.cuda.is_available() else "cuda"])
@pytest.mark.parametrize("command", DEVICE_COMMANDS)
def test_unavailable_device_creates_nothing(device, command, tmp_path, capsys, corpus, inputs):
    out = tmp_path / "run"
    one_error(capsys, [*writers(out, corpus, inputs)[command], "--device", device], device)
    assert not out.exists()
    if device == "bogus":
        assert main([str(a) for a in writers(out, corpus, inputs)[command]]) in (0, 1)  # the next correct start


def test_maml_eval_unavailable_device(finished, capsys):
    device = "cuda:7" if torch.cuda.is_available() else "cuda"
    before = snapshot(finished["maml train"])
    one_error(capsys, ["maml", "eval", finished["maml train"], "--test-steps", "2", "--device", device], device)
    assert snapshot(finished["maml train"]) == before


def test_failed_start_leaves_no_blocking_dir(tmp_path, capsys, corpus, inputs):
    """A start that wrote run.json and then failed does not make the next correct command ask for --overwrite."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"config": {"model": "other"}, "status": "running"}))
    assert main([str(a) for a in writers(out, corpus, inputs)["coordcheck"]]) in (0, 1)  # ran: not refused (2)


# -------------------------------------------------------------------------------- 5. resources
@pytest.mark.parametrize(("argv", "flag"), [
    (["converge", "--model", "linear1", "--widths", "2^40,2^41"], "--widths"),
    (["converge", "--model", "linear-deep", "--depth", "1000000000", "--widths", "16,32"], "--depth"),
    (["coordcheck", "--preset", "mup", "--depth", "1000000000"], "--depth"),
    (["coordcheck", "--preset", "mup", "--depth", "2", "--widths", "2^39,2^40"], "--widths"),
    (["maml", "train", "--width", str(2**40)], "--width"),
    (["classify", "--preset", "mup", "--depth", "1000000000"], "--depth"),
    (["kernel-converge", "--widths", "2^40,2^41"], "--widths"),
])
def test_absurd_sizes_refused_up_front(argv, flag, tmp_path, capsys):
    out = tmp_path / "run"
    one_error(capsys, argv + ([] if argv[0] == "classify" else ["--out", out]), flag)
    assert not out.exists()


def test_absurd_kernel_depth(tmp_path, capsys, inputs):
    one_error(capsys, ["kernel", "--x1", inputs, "--depth", "1000000", "--nonlinearity", "relu", "--w-std", "1",
                       "--b-std", "0", "--out", tmp_path / "k.npz"], "--depth")


@pytest.mark.parametrize(("command", "needle"), [
    ("kernel", "--x1"), ("converge", "--widths"), ("coordcheck", "--widths"), ("word2vec train", "--vocab-cap"),
    ("maml train", "--width"), ("tour", "--only"),
])
def test_out_of_memory_names_what_to_reduce(command, needle, tmp_path, capsys, corpus, inputs, monkeypatch):
    import infwidth.runs as runs

    def oom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(runs, "check_out_dir", oom)  # every writer checks its --out first
    monkeypatch.setattr(runs, "check_out_file", oom)
    one_error(capsys, writers(tmp_path / "r", corpus, inputs)[command], "out of memory", needle)


# ------------------------------------------------------------------------------ 6. two writers
HOLDER = """
import sys, time
from infwidth.runs import lock_run_dir
lock_run_dir(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


def _hold_lock(path: Path) -> subprocess.Popen:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("command", DIR_WRITERS)
def test_second_writer_refused_then_stale_lock_taken_over(command, tmp_path, capsys, corpus, inputs):
    out = tmp_path / "run"
    holder = _hold_lock(out)
    try:
        line = one_error(capsys, writers(out, corpus, inputs)[command], "being written by another run",
                         f"pid {holder.pid}")
        assert "--out" in line
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed run: its lock file stays behind, stale
        holder.wait()
    assert (out / ".lock").exists()
    assert main([str(a) for a in writers(out, corpus, inputs)[command]]) in (0, 1)
    assert not (out / ".lock").exists()


def test_second_writer_on_a_finished_run_loses_nothing(finished, tmp_path, capsys, corpus, inputs):
    run = copy_run(finished, "converge", tmp_path)
    before = snapshot(run)
    holder = _hold_lock(run)
    try:
        one_error(capsys, writers(run, corpus, inputs)["converge"] + ["--overwrite"], "being written")
    finally:
        holder.kill()
        holder.wait()
    assert snapshot(run) == before


# ------------------------------------------------------------------------ 7. advice and interrupts
def test_advice_matches_the_command(finished, tmp_path, capsys, corpus, inputs):
    cc = copy_run(finished, "coordcheck", tmp_path)
    line = one_error(capsys, writers(cc, corpus, inputs)["coordcheck"], "already holds a run")
    assert "--resume" not in line and "--overwrite" in line  # coordcheck has no --resume
    conv = copy_run(finished, "converge", tmp_path)
    assert "--resume" in one_error(capsys, writers(conv, corpus, inputs)["converge"], "already holds a run")
    one_error(capsys, ["coordcheck", "--preset", "mup", "--depth", "1", "--widths", "32,64,128", "--fit-from", "100",
                       "--out", tmp_path / "f"], "--fit-from 100", "fewer than 2 widths")


def _default_sigint() -> None:
    """In the child: Ctrl-C raises KeyboardInterrupt even when this test runs in a background job
    (which starts with SIGINT ignored, and Python keeps an ignored SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(argv: list[str], ready: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("INFWIDTH_DATA", None)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from infwidth.cli import main; sys.exit(main())",
                             *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    argv = ["converge", "--model", "linear1", "--widths", "16..16384", "--seeds", "4", "--steps", "3", "--out", out]
    res = _interrupt(argv, out / "partial.json", tmp_path)
    lines = stderr_lines(res.stderr)
    assert res.returncode == 130 and "Traceback" not in res.stderr and len(lines) == 1, res.stderr
    assert lines[0].startswith("infwidth: interrupted; continue it with: infwidth converge") and "--resume" in lines[0]
    resume = lines[0].split("continue it with: infwidth ", 1)[1].split()
    assert main(resume) == 0
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_ctrl_c_on_a_command_without_resume(tmp_path):
    out = tmp_path / "cc"
    argv = ["coordcheck", "--preset", "mup", "--depth", "2", "--widths", "64..4096", "--steps", "3", "--seeds", "3",
            "--out", out]
    res = _interrupt(argv, out / "run.json", tmp_path)
    lines = stderr_lines(res.stderr)
    assert res.returncode == 130 and "Traceback" not in res.stderr and len(lines) == 1, res.stderr
    assert "--resume" not in lines[0] and "run the command again" in lines[0]
    assert main(list(map(str, argv[:-2])) + ["--widths", "64,128", "--out", str(out)]) in (0, 1)  # not blocked


def test_every_heavy_command_has_threads():
    from typer.main import get_command

    from infwidth.cli import app

    root = get_command(app)
    for path in ("kernel", "kernel-converge", "converge", "coordcheck", "tour", "word2vec train", "maml train"):
        cmd = root
        for part in path.split():
            cmd = cmd.commands[part]
        assert any("--threads" in p.opts for p in cmd.params), path
