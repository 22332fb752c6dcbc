"""The differential harness checked against BuildKit alone.

If these fail, conformance results mean nothing: every case must build with
BuildKit, two BuildKit builds of a case must compare equal, two different
cases must compare different with a readable diff, and the OCI-layout reader
must see what the docker-save reader sees.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
from helpers.builders import BuildkitBuilder, SideCache, base_history, build_case
from helpers.cases import CASES_DIR, BuildCase, all_cases, load_case
from helpers.compare import Side, compare_images
from helpers.configs import summarise
from helpers.images import load_image
from helpers.rootfs import normalise_layers

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.docker, pytest.mark.root]

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case_builds_with_buildkit(case: BuildCase, buildkit_results: SideCache) -> None:
    side = buildkit_results.side(case)
    assert side.config["layers"] == side.config["non_empty_history"]
    assert side.config["history"] or side.config["config"], "the case changed nothing"


def test_two_buildkit_builds_compare_equal(
    buildkit: BuildkitBuilder, buildkit_results: SideCache, workdir: Path, docker_base: str
) -> None:
    case = load_case(CASES_DIR / "copy-chown")
    fresh = BuildkitBuilder(buildkit.docker, workdir, no_cache=True)
    image = build_case(fresh, case, workdir, "ocibuild-conformance-selfcheck:again")
    again = Side.of("buildkit-again", image, base_history(buildkit, docker_base))
    comparison = compare_images(buildkit_results.side(case), again)
    assert comparison.equal, comparison.report()
    assert comparison.report() == ""


def test_different_cases_are_reported_with_a_diff(buildkit_results: SideCache) -> None:
    left = buildkit_results.side(load_case(CASES_DIR / "copy-files"))
    right = buildkit_results.side(load_case(CASES_DIR / "copy-chown"))
    comparison = compare_images(left, right)
    assert not comparison.equal
    report = comparison.report()
    assert "--- buildkit rootfs" in report
    assert "-/multi/a.txt file 0644 0:0" in report
    assert "+/o/names file 0644 1000:1000" in report
    assert "--- buildkit config" in report


def test_config_difference_alone_is_reported(buildkit_results: SideCache) -> None:
    left = buildkit_results.side(load_case(CASES_DIR / "cmd-exec"))
    right = buildkit_results.side(load_case(CASES_DIR / "cmd-shell"))
    comparison = compare_images(left, right)
    assert comparison.filesystem_equal
    assert not comparison.config_equal
    assert '"Cmd"' in comparison.report()


@pytest.mark.tools
def test_oci_layout_reader_agrees_with_docker_save(
    buildkit: BuildkitBuilder, buildkit_results: SideCache, workdir: Path
) -> None:
    case = load_case(CASES_DIR / "copy-hardlinks")
    buildkit_results.side(case)
    tag = case.tag("buildkit")
    archive = workdir / "saved.tar"
    layout = workdir / "layout"
    shutil.rmtree(layout, ignore_errors=True)
    buildkit.docker.run("save", "-o", str(archive), tag)
    subprocess.run(
        ["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{layout}:{tag}"],
        check=True,
        capture_output=True,
    )
    from_docker = load_image(archive, tag)
    from_oci = load_image(layout, tag)
    assert normalise_layers(from_oci.layers) == normalise_layers(from_docker.layers)
    assert summarise(from_oci.config) == summarise(from_docker.config)
