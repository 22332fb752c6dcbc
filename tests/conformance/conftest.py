"""Fixtures for the differential suite: both builders, ready to build cases.

Results are cached per session (`SideCache`), so the harness self-checks and
the comparisons share one BuildKit build per case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from helpers.builders import (
    BuildkitBuilder,
    DockerClient,
    OcibuildBuilder,
    SideCache,
    base_history,
)

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="session")
def buildkit(docker_client: DockerClient, docker_base: str, workdir: Path) -> BuildkitBuilder:
    """BuildKit in dockerd, with the busybox base already imported."""
    return BuildkitBuilder(docker_client, workdir)


@pytest.fixture(scope="session")
def buildkit_results(buildkit: BuildkitBuilder, docker_base: str, workdir: Path) -> SideCache:
    return SideCache(buildkit, workdir, base_history(buildkit, docker_base))


@pytest.fixture(scope="session")
def ocibuild_results(ocibuild_cli: OcibuildBuilder, ocibuild_base: str, workdir: Path) -> SideCache:
    return SideCache(ocibuild_cli, workdir, base_history(ocibuild_cli, ocibuild_base))
