"""Suite-wide prerequisites and shared fixtures.

Markers (declared in pyproject.toml) say what a test needs: ``root`` (root
and overlayfs), ``docker`` (a running dockerd with BuildKit), ``tools``
(skopeo, umoci, oci-image-tool).  When a need is missing the test is skipped
with the reason, except under ``CI=true``, where it fails: CI must never pass
by skipping.

Session fixtures give every test the same busybox base image, made from
Debian's busybox-static by examples/make-busybox-rootfs.sh, imported under
the same name into dockerd and into a temporary ocibuild store.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.builders import DOCKER, DockerClient, OcibuildBuilder
from helpers.prereq import REPO, unavailable

if TYPE_CHECKING:
    from collections.abc import Callable

BASE_IMAGE = "busybox:latest"

# Tests reach registries on loopback only (those they start themselves): a
# base image missing from a store must never send a pull elsewhere.
os.environ["OCIBUILD_OFFLINE"] = "1"
TOOLS = ("skopeo", "umoci", "oci-image-tool")


@functools.cache
def _root_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems.split():
        subprocess.run(["modprobe", "overlay"], capture_output=True, check=False)
        if "overlay" not in Path("/proc/filesystems").read_text().split():
            return "needs overlayfs (modprobe overlay)"
    return None


@functools.cache
def _docker_problem() -> str | None:
    if not Path(DOCKER).exists():
        return f"needs {DOCKER} (apt-get install docker.io)"
    proc = subprocess.run([DOCKER, "info"], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return "needs a running dockerd (`docker info` failed)"
    return None


@functools.cache
def _tools_problem() -> str | None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    return f"needs {', '.join(missing)} (apt-get install)" if missing else None


CHECKS: dict[str, Callable[[], str | None]] = {
    "root": _root_problem,
    "docker": _docker_problem,
    "tools": _tools_problem,
}


def require(marker: str) -> None:
    problem = CHECKS[marker]()
    if problem is not None:
        unavailable(f"[{marker}] {problem}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in CHECKS:
        if item.get_closest_marker(marker) is not None:
            require(marker)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic busybox rootfs tarball (examples/make-busybox-rootfs.sh)."""
    if not Path("/bin/busybox").exists():
        unavailable("needs /bin/busybox (apt-get install busybox-static)")
    dest = tmp_path_factory.mktemp("base") / "busybox-rootfs.tar"
    script = REPO / "examples" / "make-busybox-rootfs.sh"
    subprocess.run([str(script), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def docker_client() -> DockerClient:
    """Runs /usr/bin/docker with DOCKER_BUILDKIT=1."""
    require("docker")
    return DockerClient()


@pytest.fixture(scope="session")
def docker_base(docker_client: DockerClient, busybox_rootfs: Path) -> str:
    """The busybox base imported into dockerd; returns its name."""
    docker_client.run("import", str(busybox_rootfs), BASE_IMAGE)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def ocibuild_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, temporary ocibuild store root for the session."""
    return tmp_path_factory.mktemp("ocibuild-store")


@pytest.fixture(scope="session")
def ocibuild_cli(ocibuild_root: Path) -> OcibuildBuilder:
    """ocibuild's CLI bound to the session store (OCIBUILD_ROOT)."""
    return OcibuildBuilder(ocibuild_root)


@pytest.fixture(scope="session")
def ocibuild_base(ocibuild_cli: OcibuildBuilder, busybox_rootfs: Path) -> str:
    """The same busybox base imported into the ocibuild store."""
    ocibuild_cli.import_rootfs(busybox_rootfs, BASE_IMAGE)
    return BASE_IMAGE
