"""Archives and rootfs outputs: round trips through the store, determinism,
whiteouts applied as deletions, and acceptance by docker/skopeo/umoci."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild.export import (
    ArchiveError,
    load_archive,
    write_docker_archive,
    write_local,
    write_oci_archive,
    write_rootfs_tar,
)
from ocibuild.oci import Descriptor, Digest, ImageConfig, mediatypes
from ocibuild.store import Store, StoredImage

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def _layer_tar(entries: Sequence[tuple[str, bytes | None]]) -> bytes:
    """A layer tar: (name, data) files, (name/, None) dirs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _image(store: Store, layers: list[bytes]) -> StoredImage:
    descs = [store.put_bytes(data, mediatypes.OCI_LAYER) for data in layers]
    config = ImageConfig(
        architecture="amd64",
        os="linux",
        created="2024-01-01T00:00:00Z",
        diff_ids=tuple(d.digest for d in descs),
    )
    manifest = store.put_image(config, descs)
    store.tag("app:1", manifest)
    return store.image(manifest)


LAYER1 = _layer_tar(
    [("a/", None), ("a/x", b"x"), ("a/y", b"y"), ("b/", None), ("b/z", b"z"), ("c", b"c")]
)
LAYER2 = _layer_tar(
    [("a/", None), ("a/.wh..wh..opq", b""), ("a/new", b"new"), (".wh.c", b""), ("b/.wh.z", b"")]
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def image(store: Store) -> StoredImage:
    return _image(store, [LAYER1, LAYER2])


def _reload(tmp_path: Path, archive: Path) -> tuple[Store, list[str]]:
    fresh = Store(tmp_path / "fresh")
    with archive.open("rb") as stream:
        return fresh, load_archive(fresh, stream)


def test_oci_archive_uncompressed_round_trip_keeps_digests(
    tmp_path: Path, store: Store, image: StoredImage
) -> None:
    archive = tmp_path / "img.tar"
    desc = write_oci_archive(store, image, archive, names=["app:1"], compression="none")
    assert desc.digest == image.manifest_desc.digest
    fresh, loaded = _reload(tmp_path, archive)
    assert loaded == ["app:1"]
    again = fresh.image("app:1")
    assert again.manifest_desc.digest == image.manifest_desc.digest
    assert again.config_desc.digest == image.config_desc.digest


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_oci_archive_compresses_layers_and_keeps_config(
    tmp_path: Path, store: Store, image: StoredImage, compression: str
) -> None:
    archive = tmp_path / "img.tar"
    desc = write_oci_archive(store, image, archive, names=["app:1"], compression=compression)
    assert desc.digest != image.manifest_desc.digest
    fresh, _ = _reload(tmp_path, archive)
    again = fresh.image("app:1")
    assert again.manifest_desc.digest == desc.digest
    assert again.config_desc.digest == image.config_desc.digest
    assert {layer.media_type for layer in again.manifest.layers} == {
        f"application/vnd.oci.image.layer.v1.tar+{compression}"
    }


def test_archives_are_deterministic(tmp_path: Path, store: Store, image: StoredImage) -> None:
    for name in ("a.tar", "b.tar"):
        write_oci_archive(store, image, tmp_path / name, names=["app:1"], compression="gzip")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    for name in ("c.tar", "d.tar"):
        write_docker_archive(store, image, tmp_path / name, names=["app:1"])
    assert (tmp_path / "c.tar").read_bytes() == (tmp_path / "d.tar").read_bytes()


def test_docker_archive_has_manifest_json_and_round_trips(
    tmp_path: Path, store: Store, image: StoredImage
) -> None:
    archive = tmp_path / "img.tar"
    write_docker_archive(store, image, archive, names=["app:1", "other/app:2"])
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert manifest[0]["RepoTags"] == ["app:1", "other/app:2"]
    assert manifest[0]["Config"] == f"blobs/sha256/{image.config_desc.digest.hex}"
    fresh, loaded = _reload(tmp_path, archive)
    assert sorted(loaded) == ["app:1", "other/app:2"]
    assert fresh.image("other/app:2").manifest_desc.digest == image.manifest_desc.digest


def test_legacy_docker_save_layout_loads(tmp_path: Path, store: Store, image: StoredImage) -> None:
    """Only manifest.json + <hex>.json + <id>/layer.tar, as docker 20.10 writes."""
    config = store.read_blob(image.config_desc)
    members = [(f"{image.config_desc.digest.hex}.json", config)]
    paths = []
    for i, layer in enumerate(image.manifest.layers):
        paths.append(f"l{i}/layer.tar")
        members.append((paths[-1], store.read_blob(layer)))
    entry = {"Config": members[0][0], "RepoTags": ["legacy:1"], "Layers": paths}
    members.append(("manifest.json", json.dumps([entry]).encode()))
    archive = tmp_path / "legacy.tar"
    archive.write_bytes(_layer_tar(members))
    fresh, loaded = _reload(tmp_path, archive)
    assert loaded == ["legacy:1"]
    assert fresh.image("legacy:1").config_desc.digest == image.config_desc.digest


def test_corrupt_blob_is_refused_and_tags_nothing(
    tmp_path: Path, store: Store, image: StoredImage
) -> None:
    archive = tmp_path / "img.tar"
    write_docker_archive(store, image, archive, names=["app:1"])
    data = bytearray(archive.read_bytes())
    at = data.find(b"new")  # the content of a/new in layer 2
    data[at : at + 3] = b"NEW"
    archive.write_bytes(bytes(data))
    fresh = Store(tmp_path / "fresh")
    with archive.open("rb") as stream, pytest.raises(ArchiveError, match="digest"):
        load_archive(fresh, stream)
    assert fresh.refs() == []


def test_empty_archive_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError):
        load_archive(Store(tmp_path / "s"), io.BytesIO(_layer_tar([("x", b"1")])))


def test_local_output_applies_whiteouts_as_deletions(
    tmp_path: Path, store: Store, image: StoredImage
) -> None:
    out = tmp_path / "out"
    write_local(store, image, out)
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert found == ["a", "a/new", "b"]
    assert (out / "a" / "new").read_bytes() == b"new"


def test_rootfs_tar_has_the_merged_tree(tmp_path: Path, store: Store, image: StoredImage) -> None:
    dest = tmp_path / "rootfs.tar"
    write_rootfs_tar(store, image, dest)
    with tarfile.open(dest) as tar:
        names = sorted(n.removeprefix("./").rstrip("/") for n in tar.getnames())
    assert [n for n in names if n and n != "."] == ["a", "a/new", "b"]


def test_stdout_stream_destination(store: Store, image: StoredImage) -> None:
    sink = io.BytesIO()
    write_oci_archive(store, image, sink, names=["app:1"], compression="none")
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue())) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    annotations = index["manifests"][0]["annotations"]
    assert annotations[mediatypes.REF_NAME_ANNOTATION] == "app:1"
    assert annotations["io.containerd.image.name"] == "docker.io/library/app:1"


# ------------------------------------------------------------- external tools


@pytest.mark.tools
def test_skopeo_and_umoci_accept_the_oci_archive(
    tmp_path: Path, store: Store, image: StoredImage
) -> None:
    archive = tmp_path / "img.tar"
    write_oci_archive(store, image, archive, names=["app:1"], compression="gzip")
    out = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{archive}:app:1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["Layers"][0].startswith("sha256:")
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    subprocess.run(
        ["oci-image-tool", "validate", "--type", "image", str(layout)],
        capture_output=True,
        text=True,
        check=True,
    )
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:app:1", str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (bundle / "rootfs" / "a" / "new").read_bytes() == b"new"
    assert not (bundle / "rootfs" / "c").exists()


@pytest.mark.docker
def test_docker_loads_the_docker_archive(tmp_path: Path, store: Store, image: StoredImage) -> None:
    archive = tmp_path / "img.tar"
    name = "ocibuild-export-test:1"
    write_docker_archive(store, image, archive, names=[name])
    docker = shutil.which("docker") or "/usr/bin/docker"
    subprocess.run([docker, "load", "-i", str(archive)], capture_output=True, check=True)
    try:
        out = subprocess.run(
            [docker, "image", "inspect", name], capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout)[0]["Id"] == str(image.config_desc.digest)
    finally:
        subprocess.run([docker, "rmi", name], capture_output=True, check=False)


def test_descriptor_digest_helper_is_consistent() -> None:
    data = b"abc"
    desc = Descriptor(mediatypes.OCI_LAYER, Digest.from_bytes(data), 3)
    assert desc.to_json()["digest"] == str(Digest.from_bytes(data))
