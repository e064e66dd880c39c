"""The CLI entry point: one-line errors with exit code 2, help without a traceback."""

import json

from infwidth.cli import main


def test_unknown_command_is_one_line_error(capsys):
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infwidth: error:") and "\n" not in err


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    assert "tour" in capsys.readouterr().out


def test_tour_rejects_unknown_section(capsys, tmp_path):
    assert main(["tour", "--out", str(tmp_path), "--only", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nonsense" in err and "\n" not in err


def test_absurd_widths_are_refused_up_front_naming_the_option(capsys, tmp_path):
    code = main(["converge", "--model", "linear1", "--widths", "2^40,2^41", "--steps", "1", "--seeds", "1",
                 "--out", str(tmp_path / "oom")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("infwidth: error:") and "--widths" in err and "\n" not in err
    assert not (tmp_path / "oom").exists()


def test_out_of_memory_names_what_to_reduce_for_the_command(capsys, tmp_path, monkeypatch):
    import infwidth.studies.converge as conv

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(conv, "run_convergence", oom)
    code = main(["converge", "--model", "linear1", "--widths", "16,32", "--out", str(tmp_path / "o")])
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert code == 2 and last == "infwidth: error: out of memory; use smaller --widths (the largest dominates) " \
        "or a smaller --depth"


def test_coordcheck_takes_the_shared_width_range(capsys, tmp_path):
    assert main(["coordcheck", "--preset", "mup", "--depth", "1", "--widths", "2^5..2^6", "--steps", "1",
                 "--seeds", "1", "--d-in", "4", "--out", str(tmp_path / "cc"), "--json"]) in (0, 1)
    record = json.loads((tmp_path / "cc" / "run.json").read_text())
    assert record["config"]["widths"] == [32, 64]


def test_interrupt_is_one_line_saying_how_to_resume(capsys, tmp_path, monkeypatch):
    import infwidth.studies.converge as conv

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(conv, "run_convergence", interrupted)
    out = tmp_path / "run"
    code = main(["converge", "--model", "linear1", "--widths", "16,32", "--out", str(out)])
    lines = [seg for seg in (ln.split("\r")[-1].strip() for ln in capsys.readouterr().err.split("\n")) if seg]
    assert code == 130 and lines == [
        f"infwidth: interrupted; continue it with: infwidth converge --model linear1 --widths 16,32 --out {out} --resume"
    ]
