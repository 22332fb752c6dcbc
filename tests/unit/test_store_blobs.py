"""Store layout, blob writing (atomicity, digests) and verified reading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import ocibuild.store
from ocibuild.errors import DigestMismatch, StoreError
from ocibuild.oci import Descriptor, Digest, mediatypes
from ocibuild.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "root")


def test_all_matches_public_names() -> None:
    exported = {n for n in vars(ocibuild.store) if n[0].isupper()}
    assert set(ocibuild.store.__all__) == exported


def test_layout_created(store: Store) -> None:
    root = store.root
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((root / "index.json").read_text())
    assert index == {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
    assert (root / "blobs" / "sha256").is_dir()
    for sub in ("tmp", "roots", "snapshots"):
        assert (root / "ocibuild" / sub).is_dir()
    Store(root)  # reopening is fine


def test_bad_layout_version(tmp_path: Path) -> None:
    Store(tmp_path)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"9.9.9"}')
    with pytest.raises(StoreError, match="unsupported OCI layout"):
        Store(tmp_path)


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCIBUILD_ROOT", str(tmp_path / "x"))
    assert Store.default_root() == tmp_path / "x"
    monkeypatch.delenv("OCIBUILD_ROOT")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    expected = Path("/var/lib/ocibuild") if os.geteuid() == 0 else tmp_path / "xdg" / "ocibuild"
    assert Store.default_root() == expected


def test_put_bytes_and_read(store: Store) -> None:
    desc = store.put_bytes(b"hello", mediatypes.OCI_CONFIG)
    assert desc == Descriptor(mediatypes.OCI_CONFIG, Digest.from_bytes(b"hello"), 5)
    assert store.has_blob(desc) and store.has_blob(desc.digest)
    assert store.blob_path(desc).read_bytes() == b"hello"
    assert store.read_blob(desc) == b"hello"
    assert store.put_bytes(b"hello", mediatypes.OCI_CONFIG) == desc
    assert oct(store.blob_path(desc).stat().st_mode & 0o777) == "0o644"


def test_writer_streams_and_commits(store: Store) -> None:
    with store.writer(mediatypes.OCI_LAYER) as w:
        for chunk in (b"a" * 1000, b"b" * 1000):
            w.write(chunk)
        desc = w.commit(Digest.from_bytes(b"a" * 1000 + b"b" * 1000))
    assert desc.size == 2000
    assert store.read_blob(desc.digest) == b"a" * 1000 + b"b" * 1000
    assert list(store.tmp_dir.iterdir()) == []


def test_writer_abort_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.writer(mediatypes.OCI_LAYER) as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert not store.has_blob(Digest.from_bytes(b"partial"))
    assert list(store.tmp_dir.iterdir()) == []
    assert list((store.blobs_dir / "sha256").iterdir()) == []


def test_writer_digest_mismatch(store: Store) -> None:
    with store.writer(mediatypes.OCI_LAYER) as w:
        w.write(b"actual")
        with pytest.raises(DigestMismatch, match="expected sha256:"):
            w.commit(Digest.from_bytes(b"other"))
        with pytest.raises(ValueError, match="already"):
            w.write(b"more")
    assert list(store.tmp_dir.iterdir()) == []
    assert not store.has_blob(Digest.from_bytes(b"actual"))


def test_commit_of_existing_blob_is_noop(store: Store) -> None:
    first = store.put_bytes(b"same", mediatypes.OCI_LAYER)
    with store.writer(mediatypes.OCI_LAYER) as w:
        w.write(b"same")
        assert w.commit() == first
    assert list(store.tmp_dir.iterdir()) == []


def test_open_blob_detects_corruption(store: Store) -> None:
    desc = store.put_bytes(b"good content", mediatypes.OCI_LAYER)
    path = store.blob_path(desc)
    path.chmod(0o644)
    path.write_bytes(b"evil content")
    with store.open_blob(desc.digest) as f:
        assert f.read(4) == b"evil"
        with pytest.raises(DigestMismatch):
            f.read()


def test_open_blob_checks_size(store: Store) -> None:
    desc = store.put_bytes(b"12345", mediatypes.OCI_LAYER)
    with pytest.raises(DigestMismatch, match="has 5 bytes, expected 6"):
        store.read_blob(Descriptor(desc.media_type, desc.digest, 6))
    with (
        pytest.raises(DigestMismatch, match="larger than"),
        store.open_blob(Descriptor(desc.media_type, desc.digest, 2)) as f,
    ):
        f.read()


def test_open_missing_blob(store: Store) -> None:
    with pytest.raises(StoreError, match="not found"):
        store.open_blob(Digest.from_bytes(b"nope"))


def test_lock_is_reentrant_and_exclusive(store: Store, tmp_path: Path) -> None:
    other = Store(store.root)
    with store.lock(), store.lock(), other.lock():
        assert (store.meta_dir / "lock").exists()
    with store.lock():
        pass


def test_unverified_writer_trusts_the_callers_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    data = b"layer bytes hashed by the caller"
    digest = Digest.from_bytes(data)
    with store.writer("application/octet-stream", verify=False) as writer:
        writer.write(data)
        desc = writer.commit(digest)
    assert desc.digest == digest and store.read_blob(digest) == data
    with store.writer("application/octet-stream", verify=False) as writer:
        writer.write(b"x")
        with pytest.raises(ValueError, match="needs the digest"):
            writer.commit()
