"""Acceptance: ``ADD <http URL>`` against a loopback server run by the test.

What BuildKit does with a downloaded file, and so what is asserted here:
the file is named after the URL's last path element (or written to the
exact destination), it gets mode 0600 and uid/gid 0, its mtime is the
response's ``Last-Modified`` (BuildKit's http source sets it), a remote
archive is NOT unpacked, and ``--checksum`` makes a mismatch a build error.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
from typing import TYPE_CHECKING, ClassVar

import pytest
from helpers.builders import OCIBUILD_CLI
from helpers.images import load_image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.root

LAST_MODIFIED = 1_609_459_200  # 2021-01-01T00:00:00Z
PAYLOAD = b"downloaded bytes\n"


def _tgz() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("inside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    return out.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {"/files/data.bin": PAYLOAD, "/files/pack.tar.gz": _tgz()}

    def do_GET(self) -> None:
        body = self.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", email.utils.formatdate(LAST_MODIFIED, usegmt=True))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _build(tmp_path: Path, dockerfile: str) -> subprocess.CompletedProcess[str]:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    env = {**os.environ, "OCIBUILD_ROOT": str(tmp_path / "store"), "NO_PROXY": "127.0.0.1"}
    env["no_proxy"] = "127.0.0.1"
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run(
        [sys.executable, "-c", OCIBUILD_CLI, "build", "-t", "dl:1", str(ctx)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _members(tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    image = load_image(tmp_path / "store", "dl:1")
    members: dict[str, tarfile.TarInfo] = {}
    for layer in image.layers:
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            for member in tar:
                members[member.name.removeprefix("./").rstrip("/")] = member
    return members


def _layer_bytes(tmp_path: Path, name: str) -> bytes:
    for layer in load_image(tmp_path / "store", "dl:1").layers:
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            for member in tar:
                if member.name.removeprefix("./") == name:
                    handle = tar.extractfile(member)
                    assert handle is not None
                    return handle.read()
    raise AssertionError(f"{name} not in any layer")


def test_add_url_into_a_directory_and_to_an_exact_path(server: str, tmp_path: Path) -> None:
    url = f"{server}/files/data.bin"
    proc = _build(tmp_path, f"FROM scratch\nADD {url} /dl/\nADD {url} /exact.bin\n")
    assert proc.returncode == 0, proc.stderr
    members = _members(tmp_path)
    for name in ("dl/data.bin", "exact.bin"):
        member = members[name]
        assert member.isreg()
        assert (member.mode & 0o7777, member.uid, member.gid) == (0o600, 0, 0)
        assert member.mtime == LAST_MODIFIED
        assert _layer_bytes(tmp_path, name) == PAYLOAD
    assert members["dl"].isdir()
    assert members["dl"].mode & 0o7777 == 0o755
    history = [h["created_by"] for h in load_image(tmp_path / "store", "dl:1").config["history"]]
    assert history[-2:] == [f"ADD {url} /dl/ # buildkit", f"ADD {url} /exact.bin # buildkit"]


def test_remote_archive_is_not_unpacked(server: str, tmp_path: Path) -> None:
    proc = _build(tmp_path, f"FROM scratch\nADD {server}/files/pack.tar.gz /d/\n")
    assert proc.returncode == 0, proc.stderr
    members = _members(tmp_path)
    assert "d/pack.tar.gz" in members
    assert "d/inside.txt" not in members
    assert _layer_bytes(tmp_path, "d/pack.tar.gz") == _Handler.files["/files/pack.tar.gz"]


def test_checksum_that_matches(server: str, tmp_path: Path) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    dockerfile = f"FROM scratch\nADD --checksum=sha256:{digest} {server}/files/data.bin /ok.bin\n"
    proc = _build(tmp_path, dockerfile)
    assert proc.returncode == 0, proc.stderr
    assert _layer_bytes(tmp_path, "ok.bin") == PAYLOAD


def test_checksum_mismatch_fails_the_build(server: str, tmp_path: Path) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    dockerfile = f"FROM scratch\nADD --checksum=sha256:{wrong} {server}/files/data.bin /bad.bin\n"
    proc = _build(tmp_path, dockerfile)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]  # after the plain progress lines
    assert error.startswith("ocibuild: Dockerfile:2:"), proc.stderr
    assert "checksum" in error.lower() or "digest" in error.lower()
    assert wrong in error
    assert "Traceback" not in proc.stderr
    assert (
        not (tmp_path / "store" / "index.json").exists()
        or "dl:1" not in (tmp_path / "store" / "index.json").read_text()
    )


def test_missing_url_fails_the_build(server: str, tmp_path: Path) -> None:
    proc = _build(tmp_path, f"FROM scratch\nADD {server}/files/nope /x\n")
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]  # after the plain progress lines
    assert error.startswith("ocibuild: Dockerfile:2:"), proc.stderr
    assert "404" in error
    assert "Traceback" not in proc.stderr


def test_unpack_true_unpacks_a_remote_archive(server: str, tmp_path: Path) -> None:
    """``ADD --unpack=true`` (Dockerfile 1.17) opts a remote archive into unpacking."""
    proc = _build(tmp_path, f"FROM scratch\nADD --unpack=true {server}/files/pack.tar.gz /d/\n")
    assert proc.returncode == 0, proc.stderr
    members = _members(tmp_path)
    assert "d/pack.tar.gz" not in members
    assert _layer_bytes(tmp_path, "d/inside.txt") == b"in\n"
