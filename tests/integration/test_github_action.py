"""The GitHub Action (action.yml) run step by step here, as a runner would run it.

tests/helpers/github_action.py reads action.yml and runs its steps; these
tests give it inputs, then check its outputs against the tarball, the store
and a registry.  Most runs use ``install: false`` with this checkout on
PYTHONPATH (the install step is the only one skipped, by its own ``if:``);
one slow test runs the install step too, into a throwaway venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers.github_action import ActionFailed, ActionRun, run_action
from helpers.images import load_image
from helpers.prereq import REPO
from helpers.registry import serve

from ocibuild.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

GREETING = 'hello "$(touch {marker})"; `touch {marker}` $HOME'
DOCKERFILE = """\
FROM busybox
ARG GREETING
RUN echo "$GREETING" > /greeting
COPY hello.txt /hello.txt
"""


@dataclass(frozen=True, slots=True)
class Built:
    run: ActionRun
    root: Path
    tags: tuple[str, ...]
    marker: Path


def _workspace(path: Path, dockerfile: str = DOCKERFILE) -> Path:
    app = path / "app"
    app.mkdir(parents=True)
    (app / "Dockerfile").write_text(dockerfile)
    (app / "hello.txt").write_text("hello from the context\n")
    return path


def _run(inputs: Mapping[str, str], tmp: Path, **env: str) -> ActionRun:
    """Run the action from this checkout, ocibuild imported from it (no install)."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    given = {"install": "false", "python": sys.executable, **inputs}
    temp = tmp / "runner-temp"
    temp.mkdir(exist_ok=True)
    return run_action(REPO, given, workspace=tmp, temp=temp, environ=environ)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, ocibuild_root: Path, ocibuild_base: str
) -> Built:
    tmp = _workspace(tmp_path_factory.mktemp("action"))
    marker = tmp / "injected"
    tags = ("action/demo:1", "action/demo:2", "action/demo:3")
    inputs = {
        "context": "app",
        "file": "app/Dockerfile",
        "tags": f"{tags[0]}\n# a comment line\n  {tags[1]} , {tags[2]}  \n",
        "build-args": f"GREETING={GREETING.format(marker=marker)}\n",
        "labels": "org.example.team=builders\norg.example.quote=a 'b' \"c\"",
        "root": str(ocibuild_root),
        "tarball": "out/image.tar",
    }
    return Built(_run(inputs, tmp), ocibuild_root, tags, marker)


def _tar_json(tarball: Path, name: str) -> Any:
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return json.load(member)


@pytest.mark.root
def test_outputs_name_the_image_in_the_tarball(built: Built) -> None:
    out = built.run.outputs
    assert out["imageid"].startswith("sha256:")
    assert out["digest"].startswith("sha256:")
    tarball = Path(out["tarball"])
    assert tarball.is_absolute()
    assert tarball.parent.name == "out"
    index = _tar_json(tarball, "index.json")
    assert {m["digest"] for m in index["manifests"]} == {out["digest"]}
    names = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    assert names == set(built.tags)
    manifest = _tar_json(tarball, "blobs/sha256/" + out["digest"].removeprefix("sha256:"))
    assert manifest["config"]["digest"] == out["imageid"]


@pytest.mark.root
def test_metadata_output_is_the_metadata_file(built: Built) -> None:
    meta = json.loads(built.run.outputs["metadata"])
    assert meta["containerimage.config.digest"] == built.run.outputs["imageid"]
    assert meta["image.name"].split(",") == [f"docker.io/{tag}" for tag in built.tags]


@pytest.mark.root
def test_every_tag_is_in_the_store(built: Built) -> None:
    store = Store(built.root)
    for tag in built.tags:
        assert str(store.image(tag).config_desc.digest) == built.run.outputs["imageid"]


@pytest.mark.root
def test_inputs_reach_the_build_verbatim(built: Built) -> None:
    """Quotes, $(...) and backticks in an input are data: nothing ran on the host."""
    image = load_image(Path(built.run.outputs["tarball"]))
    assert image.config["config"]["Labels"] == {
        "org.example.team": "builders",
        "org.example.quote": "a 'b' \"c\"",
    }
    files = _files(image.layers[-2])
    assert files["greeting"] == GREETING.format(marker=built.marker).encode() + b"\n"
    assert _files(image.layers[-1])["hello.txt"] == b"hello from the context\n"
    assert not built.marker.exists()


def _files(layer: bytes) -> dict[str, bytes]:
    import io

    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return {
            m.name.removeprefix("./"): (tar.extractfile(m) or io.BytesIO()).read()
            for m in tar
            if m.isfile()
        }


@pytest.mark.root
@pytest.mark.tools
def test_skopeo_reads_the_tarball(built: Built) -> None:
    proc = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{built.run.outputs['tarball']}:{built.tags[0]}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["Digest"] == built.run.outputs["digest"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("registry")) as address:
        yield address


def test_push_sends_the_tarball_manifest_to_the_registry(
    registry: str, tmp_path: Path, ocibuild_root: Path, ocibuild_base: str
) -> None:
    dockerfile = "FROM busybox\nCOPY hello.txt /\nLABEL stage=pushed\n"
    tmp = _workspace(tmp_path, dockerfile)
    tags = f"{registry}/action/pushed:1\n{registry}/action/pushed:latest"
    run = _run({"context": "app", "tags": tags, "push": "true", "root": str(ocibuild_root)}, tmp)
    for tag in ("1", "latest"):
        request = urllib.request.Request(
            f"http://{registry}/v2/action/pushed/manifests/{tag}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Docker-Content-Digest"] == run.outputs["digest"]
            assert json.load(response)["config"]["digest"] == run.outputs["imageid"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"platforms": "linux/amd64,linux/arm64"}, "ocibuild builds one platform per run; got 2"),
        ({"no-cache": "yes"}, "input no-cache must be true or false, not 'yes'"),
        ({"push": ""}, "input push must be true or false, not ''"),
    ],
)
def test_bad_inputs_fail_before_building(
    inputs: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ActionFailed) as info:
        _run(inputs, _workspace(tmp_path))
    assert info.value.step == "Build with ocibuild"
    assert f"::error title=ocibuild::{message}" in info.value.output
    assert "ocibuild build --" not in info.value.output  # stopped before running it


def test_a_failed_build_fails_the_action(tmp_path: Path, ocibuild_root: Path) -> None:
    tmp = _workspace(tmp_path, "FROM busybox\nCOPY missing.txt /\n")
    with pytest.raises(ActionFailed) as info:
        _run({"context": "app", "root": str(ocibuild_root)}, tmp)
    assert "ocibuild: " in info.value.output
    assert "missing.txt" in info.value.output


def _action_copy(dest: Path) -> Path:
    """The files a checkout of the action has (pip writes build/ into it)."""
    dest.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "ocibuild", dest / "ocibuild", ignore=shutil.ignore_patterns("*.pyc"))
    return dest


@pytest.mark.slow
def test_install_step_builds_with_a_fresh_venv(
    tmp_path: Path, ocibuild_root: Path, ocibuild_base: str
) -> None:
    """The default path: pip installs ocibuild from the action's checkout (PyPI
    for its dependencies), then the build runs with that venv's Python."""
    action = _action_copy(tmp_path / "action")
    tmp = _workspace(tmp_path / "ws", "FROM busybox\nCOPY hello.txt /\n")
    temp = tmp / "runner-temp"
    temp.mkdir()
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    inputs = {"context": "app", "tags": "action/installed:1", "root": str(ocibuild_root)}
    run = run_action(action, inputs, workspace=tmp, temp=temp, environ=environ)
    python = Path(run.steps["install"]["python"])
    assert python.is_relative_to(temp)
    where = subprocess.run(
        [python, "-c", "import ocibuild; print(ocibuild.__file__)"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(python.parent.parent)
    index = _tar_json(Path(run.outputs["tarball"]), "index.json")
    assert index["manifests"][0]["digest"] == run.outputs["digest"]


SUDO_SHIM = """\
#!/bin/bash
# Records how it was called and what DOCKER_CONFIG was, then runs the command.
printf '%s|%s\\n' "$DOCKER_CONFIG" "$*" >> "$SUDO_LOG"
while [[ $1 == -* ]]; do
  if [[ $1 == -- ]]; then shift; break; fi
  shift
done
exec "$@"
"""


def test_sudo_wraps_the_build_and_keeps_registry_logins(
    tmp_path: Path, ocibuild_root: Path, ocibuild_base: str
) -> None:
    """``sudo: true`` with a recording stand-in for sudo (this suite runs as root,
    where ``auto`` would not use it): ocibuild runs under it with the registry
    config kept, and the files it wrote are handed back to the job's user."""
    shim = tmp_path / "bin" / "sudo"
    shim.parent.mkdir()
    shim.write_text(SUDO_SHIM)
    shim.chmod(0o755)
    log = tmp_path / "sudo.log"
    tmp = _workspace(tmp_path / "ws", "FROM busybox\nCOPY hello.txt /\n")
    path = f"{shim.parent}:{os.environ['PATH']}"
    env = {"PATH": path, "SUDO_LOG": str(log), "HOME": "/home/u", "DOCKER_CONFIG": ""}
    run = _run({"context": "app", "sudo": "true", "root": str(ocibuild_root)}, tmp, **env)
    build, chown = log.read_text().splitlines()
    config, _, argv = build.partition("|")
    assert config == "/home/u/.docker"
    keep = "--preserve-env=DOCKER_CONFIG,OCIBUILD_ROOT,OCIBUILD_OFFLINE,SOURCE_DATE_EPOCH"
    assert argv.startswith(f"{keep} {sys.executable} -P -m ocibuild build --progress plain ")
    assert chown.split("|")[1] == (
        f"chown {os.getuid()}:{os.getgid()} -- {run.outputs['tarball']} "
        f"{Path(run.outputs['tarball']).parent / 'iid'} "
        f"{Path(run.outputs['tarball']).parent / 'metadata.json'}"
    )
    assert Path(run.outputs["tarball"]).is_file()
