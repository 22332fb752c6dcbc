"""Builds that talk to a registry: ``--pull``, ``--push``, ``-o type=registry``, and
pushing a multi-platform index (read back by ocibuild and by podman)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.prereq import unavailable
from helpers.registry import serve

from ocibuild._record import replace
from ocibuild.api import build
from ocibuild.errors import RegistryError
from ocibuild.export import import_rootfs
from ocibuild.oci import Descriptor, Index, Manifest, Platform, Reference, mediatypes
from ocibuild.registry import connect, pull, push
from ocibuild.store import Store
from tests.integration.test_registry import _image, _rootfs_tar

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("registry")) as address:
        yield address


def _push_new(store: Store, name: str, content: bytes) -> Descriptor:
    """Import an image with ``content`` as ``name`` and push it; the pushed manifest."""
    _image(store, name, content)
    ref = Reference.parse(name)
    return push(store, store.image(name), ref, connect(ref.domain)).manifest


def _context(tmp_path: Path, text: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(text)
    return context


def test_pull_flag_re_resolves_a_stored_base(registry: str, tmp_path: Path) -> None:
    name = f"{registry}/base-pull:tag"
    v1 = _push_new(Store(tmp_path / "v1"), name, b"v1")
    root = tmp_path / "builder"
    ref = Reference.parse(name)
    pull(Store(root), ref, connect(ref.domain))
    v2 = _push_new(Store(tmp_path / "v2"), name, b"v2")
    assert v1.digest != v2.digest
    context = _context(tmp_path, f"FROM {name}\nENV STEP=1\n")

    def base_layers(*, pull: bool = False) -> tuple[Descriptor, ...]:
        result = build(context, root=root, progress="plain", pull=pull)
        return Store(root).image(result.manifest).manifest.layers

    def pushed_layers(desc: Descriptor) -> tuple[Descriptor, ...]:
        data = connect(ref.domain).get_manifest(ref.path, str(desc.digest)).data
        return Manifest.from_json(data).layers

    assert base_layers() == pushed_layers(v1)
    assert base_layers(pull=True) == pushed_layers(v2)
    assert Store(root).resolve(name) is not None
    assert Store(root).image(name).manifest_desc.digest == v2.digest


def test_pull_flag_offline_is_an_error_even_when_stored(tmp_path: Path) -> None:
    name = "registry.example.com/team/base:1"
    root = tmp_path / "store"
    _image(Store(root), name, b"offline")
    context = _context(tmp_path, f"FROM {name}\n")
    build(context, root=root, progress="plain")  # stored: no registry needed
    with pytest.raises(RegistryError) as info:
        build(context, root=root, progress="plain", pull=True)
    assert str(info.value) == (
        f"Dockerfile:1: failed to resolve {name}: "
        "registry.example.com: not contacted: OCIBUILD_OFFLINE is set"
    )


def test_build_push_and_registry_output(registry: str, tmp_path: Path) -> None:
    base = f"{registry}/push-base:1"
    _push_new(Store(tmp_path / "src"), base, b"push-base")
    # the COPY makes a layer, stored uncompressed and pushed gzipped
    context = _context(tmp_path, f"FROM {base}\nENV PUSHED=yes\nCOPY Dockerfile /df\n")
    tagged, named = f"{registry}/built:1", f"{registry}/named:2"
    result = build(
        context,
        root=tmp_path / "b",
        tags=[tagged],
        push=True,
        outputs=[f"type=registry,name={named}"],
        progress="plain",
        metadata_file=tmp_path / "meta.json",
    )
    meta = json.loads((tmp_path / "meta.json").read_text())
    for name in (tagged, named):
        ref = Reference.parse(name)
        target = Store(tmp_path / name.rsplit("/", 1)[1])
        pulled = pull(target, ref, connect(ref.domain))
        assert target.image(pulled.top).config_desc.digest == result.config.digest
        # buildx reports what the registry has (gzip layers), not the stored manifest
        assert meta["containerimage.digest"] == str(pulled.top.digest)
    assert meta["containerimage.digest"] != str(result.manifest.digest)


def test_push_without_a_name_fails_before_building(tmp_path: Path) -> None:
    from ocibuild.export.outputs import OutputError

    with pytest.raises(OutputError, match="pushing needs a name"):
        build(tmp_path, root=tmp_path / "s", push=True)


def _stored_index(store: Store, name: str) -> Descriptor:
    """An OCI index of an amd64 and an arm64 image (uncompressed layers), tagged ``name``."""
    children = []
    for arch in ("amd64", "arm64"):
        platform = Platform("linux", arch)
        desc = import_rootfs(store, _rootfs_tar(arch.encode()), platform=platform)
        children.append(replace(desc, annotations=(), platform=platform))
    data = Index(tuple(children)).to_json()
    index = store.put_bytes(data, mediatypes.OCI_INDEX)
    with store.lock():
        store.tag(name, index)
    return index


def test_index_push_sends_children_then_the_exact_index(registry: str, tmp_path: Path) -> None:
    from ocibuild.cli import main

    name = f"{registry}/multi:1"
    store = Store(tmp_path / "s")
    index = _stored_index(store, name)
    assert main(["push", "--root", str(tmp_path / "s"), name]) == 0
    ref = Reference.parse(name)
    client = connect(ref.domain)
    fetched = client.get_manifest("multi", "1")
    assert (fetched.data, fetched.digest) == (store.read_blob(index), index.digest)
    for child in Index.from_json(fetched.data).manifests:
        assert client.get_manifest("multi", str(child.digest)).data == store.read_blob(child)
    arm = pull(Store(tmp_path / "arm"), ref, connect(ref.domain), Platform("linux", "arm64"))
    assert arm.top.digest == index.digest
    assert Store(tmp_path / "arm").image(name, Platform("linux", "arm64")).config.architecture == (
        "arm64"
    )


def test_an_index_missing_children_pushes_the_host_image(registry: str, tmp_path: Path) -> None:
    from ocibuild.registry import push_stored

    store = Store(tmp_path / "s")
    index = _stored_index(store, "partial:1")
    other = Index.from_json(store.read_blob(index)).manifests
    missing = next(c for c in other if not c.platform or c.platform.architecture != _host_arch())
    store.blob_path(missing.digest).unlink()
    ref = Reference.parse(f"{registry}/partial:1")
    result = push_stored(store, index, ref, connect(ref.domain))
    assert result.manifest.digest != index.digest
    assert result.manifest.media_type == mediatypes.OCI_MANIFEST


def _host_arch() -> str:
    return Platform.host().architecture


@pytest.mark.tools
def test_podman_pulls_a_pushed_index(
    registry: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    podman = shutil.which("podman")
    if podman is None:
        unavailable("podman is not installed")
        return
    name = f"{registry}/podman-multi:1"
    store = Store(tmp_path / "s")
    index = _stored_index(store, name)
    ref = Reference.parse(name)
    from ocibuild.registry import push_index

    push_index(store, index, ref, connect(ref.domain))
    runroot = Path(tempfile.mkdtemp(prefix="ocib-podman-"))  # podman: at most 50 characters
    request.addfinalizer(lambda: shutil.rmtree(runroot, ignore_errors=True))
    isolated = [podman, "--root", str(tmp_path / "podman-root"), "--runroot", str(runroot)]
    isolated += ["--storage-driver", "vfs"]
    pulled = subprocess.run(
        [*isolated, "pull", "--tls-verify=false", name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    inspected = subprocess.run(
        [*isolated, "image", "inspect", name], capture_output=True, text=True, check=True
    )
    [info] = json.loads(inspected.stdout)
    host = store.image(index)
    assert info["Digest"] == str(index.digest)
    assert info["Architecture"] == host.config.architecture
    assert info["Id"] == host.config_desc.digest.hex
