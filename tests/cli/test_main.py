"""The CLI entry point: one-line errors with exit code 2, help without a traceback."""

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
