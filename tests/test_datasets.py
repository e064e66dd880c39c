"""Data-root resolution: explicit path, environment variable, clear errors."""

import pytest

from infwidth.datasets import ENV_VAR, data_root
from infwidth.errors import UserError


def test_explicit_path_and_env(tmp_path, monkeypatch):
    assert data_root(tmp_path) == tmp_path
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert data_root() == tmp_path


def test_missing_path_is_one_line_error(tmp_path):
    with pytest.raises(UserError, match="`data`") as info:  # the library names its parameter; the CLI says --data
        data_root(tmp_path / "nope")
    assert "\n" not in str(info.value)


def test_no_data_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=ENV_VAR):
        data_root()
