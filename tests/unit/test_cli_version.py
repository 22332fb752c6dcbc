"""``--version`` prints the installed version, and is looked up only when asked."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from ocibuild import cli


def test_version_flag_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"ocibuild {version('ocibuild')}\n"


def test_parsing_a_build_does_not_load_importlib_metadata() -> None:
    code = (
        "import sys\n"
        "before = 'importlib.metadata' in sys.modules\n"
        "from ocibuild import cli\n"
        "cli._parser().parse_args(['build', '.'])\n"
        "print(before, 'importlib.metadata' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    if out[0] == "True":
        pytest.skip("importlib.metadata is loaded at interpreter start-up here")
    assert out == ["False", "False"]
