"""A throwaway docker-registry (Debian's, distribution 2.8) on a free loopback port.

Tests that need a registry use :func:`serve` from a fixture; storage lives
under the directory they pass, the process is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers.prereq import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["REGISTRY_BIN", "serve"]

REGISTRY_BIN = "/usr/bin/docker-registry"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"docker-registry exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status in (200, 401):
                    return
        except urllib.error.HTTPError as err:
            if err.code == 401:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("docker-registry did not become ready")


@contextlib.contextmanager
def serve(work: Path, extra_config: str = "") -> Iterator[str]:
    """Run docker-registry with storage under ``work``; yields ``127.0.0.1:PORT``."""
    if not Path(REGISTRY_BIN).exists():
        unavailable(f"{REGISTRY_BIN} is not installed (Debian package docker-registry)")
    port = _free_port()
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n" + extra_config
    )
    with (work / "log").open("wb") as log:
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
        try:
            _wait_ready(f"http://127.0.0.1:{port}/v2/", proc)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
