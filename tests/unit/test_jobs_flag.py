"""``--jobs N``: at least 1, checked before any work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild import cli

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_jobs_below_one_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    code = cli.main(["--root", str(tmp_path / "store"), "build", "--jobs", "0", str(tmp_path)])
    assert code == 1
    assert "invalid --jobs 0: expected at least 1" in capsys.readouterr().err
