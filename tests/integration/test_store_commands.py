"""``ocibuild build`` end to end through the CLI: tags, iidfile, metadata, outputs, stdin."""

from __future__ import annotations

import io
import json
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild import cli

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hi\n")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/x"]\n')
    return ctx


def test_build_writes_tags_files_and_outputs(
    tmp_path: Path, context: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    root = str(tmp_path / "store")
    argv = ["--root", root, "-t", "app:1", "--iidfile", str(tmp_path / "iid"),
            "--metadata-file", str(tmp_path / "meta.json"), "-o", str(tmp_path / "out"),
            "-o", f"type=oci,dest={tmp_path / 'img.tar'}", "-q", str(context)]  # fmt: skip
    assert cli.main(argv) == 0
    image_id = capsys.readouterr().out.strip()
    assert (tmp_path / "iid").read_text() == image_id
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["containerimage.config.digest"] == image_id
    assert meta["image.name"] == "docker.io/library/app:1"
    assert (tmp_path / "out" / "hello.txt").read_text() == "hi\n"
    with tarfile.open(tmp_path / "img.tar") as tar:
        assert "index.json" in tar.getnames()
    assert cli.main(["inspect", "--root", root, "app:1"]) == 0
    [obj] = json.loads(capsys.readouterr().out)
    assert obj["Id"] == image_id
    assert obj["Created"] == "1970-01-01T00:00:00Z"


def test_build_context_from_stdin(
    tmp_path: Path, context: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(context, arcname=".")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(buf.getvalue())))
    assert cli.main(["--root", str(tmp_path / "s"), "-q", "-"]) == 0
    assert capsys.readouterr().out.startswith("sha256:")


def test_build_error_is_one_line(
    tmp_path: Path, context: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (context / "Dockerfile").write_text("FROM scratch\nFORM x\n")
    assert cli.main(["--root", str(tmp_path / "s"), str(context)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ocibuild: Dockerfile:2:")
    assert err.count("\n") == 1
