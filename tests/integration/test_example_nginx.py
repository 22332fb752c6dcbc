"""docs/nginx-example.md, run as written: debootstrap, import, build, serve, fetch.

The page's console blocks (it hands them to this test with ``<!-- docs-test:
run-by ... -->``) run in order in one bash session (tests/helpers/
mdtest_session.py) in a scratch dir holding a copy of examples/: a minbase
Debian 12 from examples/make-debian-rootfs.sh is imported as debian:bookworm
(made once per session and put where the page's command finds it, so that
command keeps it; set OCIBUILD_DEBIAN_ROOTFS=PATH to keep it between
sessions), the example is built with ocibuild (its RUN installs nginx from
the Debian mirror), unpacked with umoci, started with runc on the host's
network, and its page fetched over loopback.  The container is stopped
afterwards even when a step fails.  Needs root, debootstrap, umoci, runc,
curl, the Debian mirror and port 8080.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.mdtest import blocks, commands
from helpers.mdtest_session import run_console
from helpers.prereq import REPO, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.root]

EXAMPLES = REPO / "examples"
PORT = 8080
DOC = REPO / "docs" / "nginx-example.md"
CONTAINER = "nginx-example"  # the name the page uses


@pytest.fixture(scope="session")
def debian_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A debootstrapped bookworm rootfs tarball (cached: the script keeps it)."""
    if shutil.which("debootstrap") is None:
        unavailable("needs debootstrap (apt-get install debootstrap)")
    cached = os.environ.get("OCIBUILD_DEBIAN_ROOTFS")
    dest = Path(cached) if cached else tmp_path_factory.mktemp("debian") / "debian.tar"
    script = EXAMPLES / "make-debian-rootfs.sh"
    proc = subprocess.run(
        [str(script), str(dest)], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        unavailable(f"debootstrap of bookworm failed (no Debian mirror?): {tail}")
    return dest


def _tools() -> None:
    missing = [tool for tool in ("umoci", "runc", "curl") if shutil.which(tool) is None]
    if missing:
        unavailable(f"needs {', '.join(missing)} (apt-get install)")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _environment(tmp: Path) -> dict[str, str]:
    """This tree's ``ocibuild`` first on PATH; no store chosen (the page exports one)."""
    bindir = tmp / "bin"
    bindir.mkdir()
    wrapper = bindir / "ocibuild"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m ocibuild "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "OCIBUILD_ROOT"}
    env.update(PATH=f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}", PYTHONPATH=str(REPO))
    return env


def _stop_container() -> None:
    for args in (["kill", CONTAINER, "KILL"], ["delete", "-f", CONTAINER]):
        subprocess.run(["runc", *args], capture_output=True, check=False)


def test_nginx_example_page_runs_as_written(debian_rootfs: Path, tmp_path: Path) -> None:
    _tools()
    if not _port_free(PORT):
        unavailable(f"port {PORT} is taken on this host; the page's nginx listens there")
    scratch = tmp_path / "scratch"
    shutil.copytree(EXAMPLES, scratch / "examples", symlinks=True)
    (scratch / "debian.tar").symlink_to(debian_rootfs)  # the page's script keeps it
    cmds = [c for b in blocks(DOC.read_text()) if b.lang == "console" for c in commands(b)]
    assert len(cmds) >= 8, "the page lost its commands"
    try:
        run_console(
            cmds,
            "docs/nginx-example.md",
            scratch,
            _environment(tmp_path),
            tmp_path / "out",
            timeout=900,
        )
    finally:
        _stop_container()
    index = json.loads((scratch / "store" / "index.json").read_text())
    names = {
        m.get("annotations", {}).get("org.opencontainers.image.ref.name")
        for m in index["manifests"]
    }
    assert "nginx:latest" in names
