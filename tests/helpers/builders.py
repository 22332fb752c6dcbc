"""The two builders under test, behind one small interface.

`BuildkitBuilder` drives dockerd's BuildKit (/usr/bin/docker with
DOCKER_BUILDKIT=1) and reads results back with ``docker save``;
`OcibuildBuilder` drives ocibuild's CLI against a given store root and reads
results straight from the store, which is an OCI image layout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from helpers.compare import Side
from helpers.configs import history
from helpers.images import LoadedImage, load_image

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from helpers.cases import BuildCase

DOCKER = "/usr/bin/docker"
OCIBUILD_CLI = "import sys; from ocibuild.cli import run; run(sys.argv[1:])"


class BuildFailedError(AssertionError):
    """A builder exited non-zero; the message carries its output tail."""


def _run(argv: Sequence[str], env: Mapping[str, str], what: str) -> str:
    proc = subprocess.run(
        list(argv),
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise BuildFailedError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return proc.stdout


@dataclass(frozen=True, slots=True)
class DockerClient:
    """/usr/bin/docker with BuildKit switched on."""

    binary: str = DOCKER

    def run(self, *args: str) -> str:
        return _run([self.binary, *args], {"DOCKER_BUILDKIT": "1"}, "docker")


@dataclass(frozen=True, slots=True)
class BuildRequest:
    dockerfile: Path
    context: Path
    tag: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None

    def flags(self) -> list[str]:
        argv = ["-f", str(self.dockerfile), "-t", self.tag]
        for key, value in sorted(self.build_args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        if self.target:
            argv += ["--target", self.target]
        return argv


class Builder(Protocol):
    @property
    def name(self) -> str: ...

    def build(self, request: BuildRequest) -> None: ...
    def load(self, tag: str) -> LoadedImage: ...


@dataclass(frozen=True, slots=True)
class BuildkitBuilder:
    docker: DockerClient
    workdir: Path
    no_cache: bool = False
    name: str = "buildkit"

    def build(self, request: BuildRequest) -> None:
        extra = ["--no-cache"] if self.no_cache else []
        self.docker.run("build", "--network=host", *extra, *request.flags(), str(request.context))

    def load(self, tag: str) -> LoadedImage:
        archive = self.workdir / (tag.replace("/", "_").replace(":", "_") + ".tar")
        self.docker.run("save", "-o", str(archive), tag)
        try:
            return load_image(archive, tag)
        finally:
            archive.unlink()


@dataclass(frozen=True, slots=True)
class OcibuildBuilder:
    root: Path
    name: str = "ocibuild"

    def run(self, *args: str) -> str:
        argv = [sys.executable, "-c", OCIBUILD_CLI, *args]
        return _run(argv, {"OCIBUILD_ROOT": str(self.root)}, "ocibuild")

    def build(self, request: BuildRequest) -> None:
        self.run(*request.flags(), str(request.context))

    def import_rootfs(self, rootfs: Path, name: str) -> None:
        self.run("import", str(rootfs), name)

    def load(self, tag: str) -> LoadedImage:
        return load_image(self.root, tag)


def base_history(builder: Builder, name: str) -> list[dict[str, Any]]:
    return history(builder.load(name).config)


def build_case(builder: Builder, case: BuildCase, workdir: Path, tag: str) -> LoadedImage:
    """Build a case (its parent first, if any) and load the result."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{builder.name}-{case.name}-", dir=workdir))
    context = case.prepare_context(scratch / "context")
    if case.parent is not None:
        parent = BuildRequest(
            case.dockerfile_path(case.parent.dockerfile), context, case.parent.tag
        )
        builder.build(parent)
    request = BuildRequest(case.dockerfile_path(), context, tag, dict(case.build_args), case.target)
    builder.build(request)
    return builder.load(tag)


class SideCache:
    """Builds each case at most once per builder and keeps the result."""

    def __init__(self, builder: Builder, workdir: Path, base: Sequence[Mapping[str, Any]]) -> None:
        self.builder = builder
        self._workdir = workdir
        self._base = list(base)
        self._sides: dict[str, Side] = {}

    def side(self, case: BuildCase) -> Side:
        if case.name not in self._sides:
            image = build_case(self.builder, case, self._workdir, case.tag(self.builder.name))
            self._sides[case.name] = Side.of(self.builder.name, image, self._base)
        return self._sides[case.name]
