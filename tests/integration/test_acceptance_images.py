"""Acceptance: images from outside the store, by ``load`` and as named contexts.

Archives are made by independent tools (skopeo for OCI, the real
``docker save`` for docker archives), never by ocibuild's own exporter, and
every build runs in a fresh, empty store, so the base can only come from
the archive or the named context.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OCIBUILD_CLI, DockerClient
from helpers.images import load_image
from helpers.rootfs import normalise_layers

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"


@dataclass(frozen=True, slots=True)
class Cli:
    root: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-c", OCIBUILD_CLI, *args],
            env={**os.environ, "OCIBUILD_ROOT": str(self.root)},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc


def _sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _files(root: Path, tag: str) -> dict[str, str]:
    """path -> sha256 of every regular file in the stored image."""
    image = load_image(root, tag)
    return {e.path: e.sha256 for e in normalise_layers(image.layers) if e.kind == "file"}


def _context(where: Path, dockerfile: str) -> Path:
    where.mkdir(parents=True)
    (where / "Dockerfile").write_text(dockerfile)
    (where / "f.txt").write_text("from the context\n")
    return where


def _skopeo(*args: str) -> None:
    subprocess.run(["skopeo", "--insecure-policy", "copy", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def source_layout(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding busybox:latest; the store is itself an OCI layout."""
    root = tmp_path_factory.mktemp("images-source") / "store"
    Cli(root).run("import", str(busybox_rootfs), "busybox:latest")
    return root


@pytest.fixture(scope="module")
def oci_archive(source_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout tarball whose index names the image ``myname:1.0``."""
    archive = tmp_path_factory.mktemp("oci-archive") / "x.tar"
    _skopeo(f"oci:{source_layout}:busybox:latest", f"oci-archive:{archive}:myname:1.0")
    return archive


@pytest.fixture(scope="module")
def oci_dir(source_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout directory holding the image under the tag ``v1``."""
    layout = tmp_path_factory.mktemp("oci-dir") / "layout"
    _skopeo(f"oci:{source_layout}:busybox:latest", f"oci:{layout}:v1")
    return layout


@pytest.fixture(scope="module")
def docker_archive(
    docker_client: DockerClient, docker_base: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A real ``docker save`` of busybox, named ``mydocker:2.0``."""
    docker_client.run("tag", docker_base, "mydocker:2.0")
    archive = tmp_path_factory.mktemp("docker-archive") / "d.tar"
    docker_client.run("save", "-o", str(archive), "mydocker:2.0")
    return archive


FROM_LOADED = "FROM {name}\nCOPY f.txt /f.txt\n"


def _load_then_build(archive: Path, name: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "store")
    loaded = cli.run("load", "-i", str(archive))
    assert f"Loaded image: {name}" in loaded.stdout
    ctx = _context(tmp_path / "ctx", FROM_LOADED.format(name=name))
    cli.run("build", "-t", "built:1", str(ctx))
    files = _files(cli.root, "built:1")
    assert files["bin/busybox"] == _sha256(BUSYBOX)
    assert files["f.txt"] == hashlib.sha256(b"from the context\n").hexdigest()


@pytest.mark.tools
def test_loaded_oci_archive_is_usable_as_from(oci_archive: Path, tmp_path: Path) -> None:
    _load_then_build(oci_archive, "myname:1.0", tmp_path)


@pytest.mark.docker
def test_loaded_docker_save_archive_is_usable_as_from(docker_archive: Path, tmp_path: Path) -> None:
    _load_then_build(docker_archive, "mydocker:2.0", tmp_path)


NAMED = """\
FROM base AS first
COPY f.txt /f.txt

FROM scratch
COPY --from=base /bin/busybox /bb
COPY --from=first /f.txt /f.txt
"""


def _build_with_context(value: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "store")
    ctx = _context(tmp_path / "ctx", NAMED)
    cli.run("build", "-t", "named:1", "--build-context", f"base={value}", str(ctx))
    files = _files(cli.root, "named:1")
    assert files == {
        "bb": _sha256(BUSYBOX),
        "f.txt": hashlib.sha256(b"from the context\n").hexdigest(),
    }
    assert load_image(cli.root, "named:1").config["config"].get("WorkingDir") == "/"


@pytest.mark.tools
def test_named_context_oci_layout_with_tag(oci_dir: Path, tmp_path: Path) -> None:
    _build_with_context(f"oci-layout://{oci_dir}:v1", tmp_path)


@pytest.mark.tools
def test_named_context_oci_archive_path(oci_archive: Path, tmp_path: Path) -> None:
    _build_with_context(str(oci_archive), tmp_path)


@pytest.mark.docker
def test_named_context_docker_archive_path(docker_archive: Path, tmp_path: Path) -> None:
    _build_with_context(str(docker_archive), tmp_path)


@pytest.mark.tools
def test_named_context_oci_layout_unknown_tag_is_a_user_error(
    oci_dir: Path, tmp_path: Path
) -> None:
    ctx = _context(tmp_path / "ctx", NAMED)
    spec = f"base=oci-layout://{oci_dir}:nosuchtag"
    proc = subprocess.run(
        [sys.executable, "-c", OCIBUILD_CLI, "build", "--build-context", spec, str(ctx)],
        env={**os.environ, "OCIBUILD_ROOT": str(tmp_path / "store")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1
    assert "nosuchtag" in proc.stderr
    assert "Traceback" not in proc.stderr
