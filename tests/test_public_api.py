"""The top-level API: every advertised name resolves, and ``import infwidth`` does not pull in torch."""

import subprocess
import sys

import infwidth


def test_every_public_name_resolves():
    for name in infwidth.__all__:
        assert getattr(infwidth, name) is not None, name


def test_import_is_light():
    code = "import sys, infwidth; infwidth.mup(2).classify(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
