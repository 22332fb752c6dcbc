"""Tags in index.json, name/digest/ID resolution, images and concurrency."""

from __future__ import annotations

import json
import multiprocessing
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import StoreError, UserError
from ocibuild.oci import Descriptor, Digest, ImageConfig, Index, Platform, mediatypes
from ocibuild.store import AmbiguousReferenceError, ImageNotFoundError, Store

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "root")


def _image(store: Store, arch: str = "amd64", created: str = "") -> Descriptor:
    return store.put_image(ImageConfig(arch, "linux", created=created), [])


def test_tag_writes_familiar_ref_name(store: Store) -> None:
    desc = _image(store)
    assert store.tag("busybox", desc) == "busybox:latest"
    assert store.tag("127.0.0.1:5000/repo:tag", desc) == "127.0.0.1:5000/repo:tag"
    index = json.loads((store.root / "index.json").read_bytes())
    names = [m["annotations"][mediatypes.REF_NAME_ANNOTATION] for m in index["manifests"]]
    assert names == ["busybox:latest", "127.0.0.1:5000/repo:tag"]
    assert [n for n, _ in store.refs()] == ["127.0.0.1:5000/repo:tag", "busybox:latest"]


@pytest.mark.parametrize(
    "name", ["busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox:latest"]
)
def test_resolve_spellings(store: Store, name: str) -> None:
    desc = _image(store)
    store.tag("busybox", desc)
    found = store.resolve(name)
    assert found is not None and found.digest == desc.digest


def test_retag_replaces(store: Store) -> None:
    a, b = _image(store, "amd64"), _image(store, "arm64")
    store.tag("x:1", a)
    store.tag("docker.io/library/x:1", b)
    assert [(n, d.digest) for n, d in store.refs()] == [("x:1", b.digest)]


def test_resolve_by_digest_and_id(store: Store) -> None:
    desc = _image(store)
    store.tag("img", desc)
    config = store.image("img").config_desc.digest
    for text in (
        str(desc.digest),
        str(config),
        config.hex,
        config.hex[:12],
        "sha256:" + config.hex[:6],
        f"img@{desc.digest}",
    ):
        found = store.resolve(text)
        assert found is not None and found.digest == desc.digest, text
    assert store.resolve("sha256:" + "0" * 64) is None
    assert store.resolve("nothere") is None
    assert store.resolve("Invalid Name") is None


def test_ambiguous_prefix(store: Store) -> None:
    digests = []
    for i in range(40):
        desc = _image(store, created=f"2020-01-01T00:00:{i:02d}Z")
        store.tag(f"img{i}", desc)
        digests.append(store.image(desc).config_desc.digest.hex)
    firsts = [d[0] for d in digests]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(AmbiguousReferenceError):
        store.resolve(shared)


def test_untag(store: Store) -> None:
    desc = _image(store)
    store.tag("a", desc)
    store.tag("b:2", desc)
    assert store.untag("docker.io/library/a:latest")
    assert not store.untag("a")
    assert [n for n, _ in store.refs()] == ["b:2"]


def test_tag_rejects_bad_names(store: Store) -> None:
    desc = _image(store)
    for bad in ("UPPER", f"x@{desc.digest}"):
        with pytest.raises(UserError):
            store.tag(bad, desc)


def test_foreign_ref_names_resolve(store: Store) -> None:
    desc = _image(store)
    entry = desc.with_annotations({mediatypes.REF_NAME_ANNOTATION: "v1"})
    (store.root / "index.json").write_bytes(Index((entry,)).to_json())
    found = store.resolve("v1")
    assert found is not None and found.digest == desc.digest


def test_image_reads_config_and_layers(store: Store, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hi")
    with tarfile.open(tmp_path / "l.tar", "w") as tar:
        tar.add(tmp_path / "f", arcname="f")
    data = (tmp_path / "l.tar").read_bytes()
    layer = store.put_bytes(data, mediatypes.OCI_LAYER)
    config = ImageConfig("amd64", "linux", diff_ids=(Digest.from_bytes(data),))
    desc = store.put_image(config, [layer], annotations={"k": "v"})
    img = store.image(desc)
    assert img.config == config
    assert img.manifest.layers == (layer,)
    assert img.manifest.annotations == (("k", "v"),)
    assert img.manifest_desc == desc
    with pytest.raises(ValueError, match="diff_ids"):
        store.put_image(config, [])


def test_image_follows_index_to_platform(store: Store) -> None:
    amd, arm = _image(store, "amd64"), _image(store, "arm64")
    entries = (
        Descriptor(amd.media_type, amd.digest, amd.size, platform=Platform("linux", "amd64")),
        Descriptor(arm.media_type, arm.digest, arm.size, platform=Platform("linux", "arm64", "v8")),
    )
    idx = store.put_bytes(Index(entries).to_json(), mediatypes.OCI_INDEX)
    store.tag("multi", idx)
    assert store.image("multi", Platform.parse("linux/aarch64")).manifest_desc.digest == arm.digest
    assert store.image("multi", Platform.parse("linux/amd64")).config.architecture == "amd64"
    with pytest.raises(ImageNotFoundError, match="no manifest for linux/s390x"):
        store.image("multi", Platform.parse("linux/s390x"))
    found = store.resolve(
        store.image("multi", Platform.parse("linux/arm64")).config_desc.digest.hex
    )
    assert found is not None and found.digest == arm.digest
    with pytest.raises(ImageNotFoundError, match="no such image: nope"):
        store.image("nope")


def _tag_many(root: str, prefix: str, count: int) -> None:
    store = Store(root)
    desc = store.put_image(ImageConfig("amd64", "linux", author=prefix), [])
    for i in range(count):
        store.tag(f"{prefix}{i}", desc)


def test_concurrent_taggers_lose_nothing(store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_tag_many, args=(str(store.root), p, 25)) for p in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    names = {n for n, _ in store.refs()}
    assert names == {f"{p}{i}:latest" for p in "ab" for i in range(25)}


def test_corrupt_manifest_is_a_store_error(store: Store) -> None:
    bogus = store.put_bytes(b"not json", mediatypes.OCI_MANIFEST)
    store.tag("bogus", bogus)
    with pytest.raises(StoreError, match="cannot read"):
        store.resolve("abcdef")
