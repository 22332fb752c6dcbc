"""Garbage collection: reachability from index.json and extra roots, temp cleanup."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import StoreError
from ocibuild.oci import Descriptor, Digest, ImageConfig, Index, Platform, mediatypes
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "root")


def _layered(store: Store, content: bytes) -> tuple[Descriptor, Descriptor]:
    layer = store.put_bytes(content, mediatypes.OCI_LAYER)
    config = ImageConfig("amd64", "linux", diff_ids=(Digest.from_bytes(content),))
    return store.put_image(config, [layer]), layer


def _blobs(store: Store) -> set[str]:
    return {p.name for p in (store.blobs_dir / "sha256").iterdir()}


def test_gc_keeps_reachable_and_deletes_unreachable(store: Store) -> None:
    kept, kept_layer = _layered(store, b"kept layer")
    gone, gone_layer = _layered(store, b"gone layer!")
    stray = store.put_bytes(b"stray", "application/octet-stream")
    store.tag("kept", kept)
    kept_config = store.image(kept).config_desc
    before = _blobs(store)
    sizes = {p.name: p.stat().st_size for p in (store.blobs_dir / "sha256").iterdir()}
    freed = store.gc()
    after = _blobs(store)
    assert after == {kept.digest.hex, kept_layer.digest.hex, kept_config.digest.hex}
    removed = before - after
    assert len(removed) == 4  # gone's manifest, config and layer, and the stray blob
    assert {gone.digest.hex, gone_layer.digest.hex, stray.digest.hex} <= removed
    assert freed == sum(sizes[name] for name in removed)
    assert store.image("kept").config == store.image(kept).config


def test_gc_follows_indexes(store: Store) -> None:
    manifest, layer = _layered(store, b"in an index")
    entry = Descriptor(
        manifest.media_type, manifest.digest, manifest.size, platform=Platform.host()
    )
    idx = store.put_bytes(Index((entry,)).to_json(), mediatypes.OCI_INDEX)
    store.tag("multi", idx)
    store.gc()
    assert {idx.digest.hex, manifest.digest.hex, layer.digest.hex} <= _blobs(store)
    store.untag("multi")
    store.gc()
    assert _blobs(store) == set()


def test_extra_roots_pin(store: Store) -> None:
    manifest, layer = _layered(store, b"pinned")
    store.set_root("build-1", [manifest])
    assert store.extra_roots() == [manifest]
    store.gc()
    assert layer.digest.hex in _blobs(store)
    store.remove_root("build-1")
    store.gc()
    assert _blobs(store) == set()
    with pytest.raises(ValueError, match="invalid gc root"):
        store.set_root("../x", [])


def test_bad_root_file_stops_gc(store: Store) -> None:
    (store.roots_dir / "bad.json").write_text("{}")
    with pytest.raises(StoreError, match="invalid gc root"):
        store.gc()


def test_corrupt_manifest_stops_gc(store: Store) -> None:
    bogus = store.put_bytes(b"not a manifest", mediatypes.OCI_MANIFEST)
    store.tag("bogus", bogus)
    with pytest.raises(StoreError, match="cannot read"):
        store.gc()


def test_min_age_spares_young_blobs(store: Store) -> None:
    young = store.put_bytes(b"young", mediatypes.OCI_LAYER)
    assert store.gc(min_age=3600) == 0
    assert store.has_blob(young)


def test_gc_removes_dead_temp_files_only(store: Store) -> None:
    dead = store.tmp_dir / "blob-dead"
    dead.write_bytes(b"x" * 10)
    old = time.time() - 3600
    os.utime(dead, (old, old))
    with store.writer(mediatypes.OCI_LAYER) as live:
        live.write(b"in progress")
        live_file = next(p for p in store.tmp_dir.iterdir() if p != dead)
        os.utime(live_file, (old, old))
        assert store.gc() == 10
        assert live_file.exists()
        assert not dead.exists()
        live.commit()
    assert list(store.tmp_dir.iterdir()) == []
