"""examples/Dockerfile.nginx end to end: debootstrap, import, build, serve.

A minbase Debian 12 from examples/make-debian-rootfs.sh (made once per
session; set OCIBUILD_DEBIAN_ROOTFS=PATH to keep it between sessions) is
imported as debian:bookworm, the example is built with ocibuild (its RUN
installs nginx from the Debian mirror), and the built image is unpacked with
umoci and started with runc on the host's network.  The page must come back
over loopback.  Needs root, debootstrap, umoci, runc and the Debian mirror.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OcibuildBuilder
from helpers.prereq import REPO, unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.slow, pytest.mark.root]

EXAMPLES = REPO / "examples"
PORT = 8080
PAGE = (EXAMPLES / "nginx" / "index.html").read_text()
# Docker's default set: umoci's is only three, too few for nginx's chown/setuid.
DOCKER_CAPS = [
    f"CAP_{cap}"
    for cap in (
        *("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID"),
        *("SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL"),
        "AUDIT_WRITE",
    )
]


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
    missing = [tool for tool in ("umoci", "runc") if shutil.which(tool) is None]
    if missing:
        unavailable(f"needs {', '.join(missing)} (apt-get install)")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _unpack(store: Path, bundle: Path) -> int:
    """Unpack nginx:latest as a runc bundle on the host network; returns the port."""
    subprocess.run(
        ["umoci", "unpack", "--image", f"{store}:nginx:latest", str(bundle)],
        check=True,
        capture_output=True,
    )
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["terminal"] = False
    config["process"]["capabilities"] = {
        kind: DOCKER_CAPS for kind in ("bounding", "effective", "permitted")
    }
    namespaces = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [ns for ns in namespaces if ns["type"] != "network"]
    config_path.write_text(json.dumps(config))
    if _port_free(PORT):
        return PORT
    # Something on the host already has 8080: move the example's server.
    port = _free_port()
    conf = bundle / "rootfs" / "etc" / "nginx" / "conf.d" / "default.conf"
    text = conf.read_text().replace(f":{PORT} ", f":{port} ").replace(f" {PORT} ", f" {port} ")
    conf.write_text(text)
    return port


@contextlib.contextmanager
def _running(bundle: Path, state: Path) -> Iterator[None]:
    """runc runs the bundle detached; killed and deleted on the way out."""
    runc = ["runc", "--root", str(state)]
    name = f"ocibuild-nginx-{os.getpid()}"
    log = bundle.parent / "container.log"
    try:
        with log.open("wb") as out:
            subprocess.run(
                [*runc, "run", "-d", "--bundle", str(bundle), name],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                timeout=60,
                check=True,
            )
        yield
    finally:
        subprocess.run([*runc, "kill", name, "KILL"], capture_output=True, check=False)
        subprocess.run([*runc, "delete", "-f", name], capture_output=True, check=False)


def _fetch(url: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_nginx_example_serves_its_page(debian_rootfs: Path, tmp_path: Path) -> None:
    _tools()
    store = tmp_path / "store"
    cli = OcibuildBuilder(store)
    cli.import_rootfs(debian_rootfs, "debian:bookworm")
    cli.run("build", "-f", str(EXAMPLES / "Dockerfile.nginx"), "-t", "nginx", str(EXAMPLES))

    config = json.loads(cli.run("inspect", "nginx:latest"))[0]["Config"]
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert config["ExposedPorts"] == {f"{PORT}/tcp": {}}

    bundle = tmp_path / "bundle"
    port = _unpack(store, bundle)
    with _running(bundle, tmp_path / "runc-state"):
        assert _fetch(f"http://127.0.0.1:{port}/", seconds=15) == PAGE
