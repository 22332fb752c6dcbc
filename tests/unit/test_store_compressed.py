"""Compressed copies of layers: the mapping, reuse, a vanished blob, gc and prune."""

from __future__ import annotations

import gzip
import sqlite3
from typing import TYPE_CHECKING

import pytest

from ocibuild.export.compressed import open_compressed
from ocibuild.layer.compress import Compression, format_id
from ocibuild.oci import Descriptor, Digest, ImageConfig, mediatypes
from ocibuild.store import Store
from ocibuild.store.cache import SCHEMA_VERSION, CacheDB, CacheRecord
from ocibuild.store.cache_prune import trim

if TYPE_CHECKING:
    from pathlib import Path

GZIP = format_id(Compression.GZIP)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "root")


def _image(store: Store, content: bytes, tag: str = "app") -> Descriptor:
    layer = store.put_bytes(content, mediatypes.OCI_LAYER)
    config = ImageConfig("amd64", "linux", diff_ids=(layer.digest,))
    store.tag(tag, store.put_image(config, [layer]))
    return layer


def _compress(store: Store, layer: Descriptor, kind: Compression = Compression.GZIP) -> Descriptor:
    desc, reader = open_compressed(store, layer, kind)
    with reader:
        data = reader.read()
    assert Digest.from_bytes(data) == desc.digest
    assert len(data) == desc.size
    return desc


def test_first_use_compresses_into_the_store_and_records_it(store: Store) -> None:
    layer = _image(store, b"layer bytes " * 1000)
    desc = _compress(store, layer)
    assert desc.media_type == mediatypes.OCI_LAYER_GZIP
    assert gzip.decompress(store.read_blob(desc)) == b"layer bytes " * 1000
    assert store.cache.compressed.get(layer.digest, GZIP) == Descriptor(
        desc.media_type, desc.digest, desc.size
    )


def test_second_use_reuses_the_blob(store: Store) -> None:
    layer = _image(store, b"reused " * 1000)
    first = _compress(store, layer)
    mtime = store.blob_path(first).stat().st_mtime_ns
    # A recorded copy is served as recorded: rewrite the row to a blob that is
    # not what compressing would give, and it is that blob that comes back.
    other = store.put_bytes(b"stand-in", mediatypes.OCI_LAYER_GZIP)
    store.cache.compressed.put(layer.digest, GZIP, other)
    assert _compress(store, layer).digest == other.digest
    store.cache.compressed.put(layer.digest, GZIP, first)
    assert _compress(store, layer) == first
    assert store.blob_path(first).stat().st_mtime_ns == mtime


def test_each_compression_has_its_own_copy(store: Store) -> None:
    layer = _image(store, b"two kinds " * 1000)
    gz = _compress(store, layer)
    zst = _compress(store, layer, Compression.ZSTD)
    assert zst.media_type == mediatypes.OCI_LAYER_ZSTD
    assert gz.digest != zst.digest
    assert {c.compression for c in store.cache.compressed.all()} == {
        GZIP,
        format_id(Compression.ZSTD),
    }


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_missing_or_damaged_blob_means_compress_again(store: Store, damage: str) -> None:
    layer = _image(store, b"vanishing " * 1000)
    first = _compress(store, layer)
    path = store.blob_path(first)
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:10])
    assert _compress(store, layer) == first
    assert store.read_blob(first)  # verified: the right bytes are back


def test_annotations_of_the_layer_are_kept(store: Store) -> None:
    plain = _image(store, b"annotated " * 100)
    layer = Descriptor(plain.media_type, plain.digest, plain.size, annotations=(("k", "v"),))
    desc, reader = open_compressed(store, layer, Compression.GZIP)
    reader.close()
    assert desc.annotations == (("k", "v"),)


def test_gc_keeps_a_copy_while_its_layer_lives(store: Store) -> None:
    layer = _image(store, b"live " * 1000)
    copy = _compress(store, layer)
    store.gc()
    assert store.has_blob(copy)
    assert store.cache.compressed.get(layer.digest, GZIP) is not None


def test_gc_drops_row_and_blob_with_the_layer(store: Store) -> None:
    kept = _image(store, b"kept " * 1000, tag="kept")
    layer = _image(store, b"dying " * 1000, tag="dying")
    kept_copy, copy = _compress(store, kept), _compress(store, layer)
    store.untag("dying")
    store.gc()
    assert not store.has_blob(layer)
    assert not store.has_blob(copy)
    assert [c.diff_id for c in store.cache.compressed.all()] == [kept.digest]
    assert store.has_blob(kept_copy)


def test_gc_keeps_a_copy_of_a_layer_only_the_build_cache_names(store: Store) -> None:
    layer = _image(store, b"cached " * 1000)
    copy = _compress(store, layer)
    store.untag("app")
    store.cache.put(
        CacheRecord("k", layer.digest, layer.digest, layer.size, layer.media_type, last_used=1.0)
    )
    store.gc()
    assert store.has_blob(layer)
    assert store.has_blob(copy)
    store.cache.delete(["k"])
    store.gc()
    assert not store.has_blob(copy)
    assert store.cache.compressed.all() == []


def test_prune_until_drops_old_copies(store: Store) -> None:
    layer = _image(store, b"old " * 1000)
    copy = _compress(store, layer)
    [row] = store.cache.compressed.all()
    assert trim(store.cache, until=3600, now=row.last_used + 60).copies == 0
    result = trim(store.cache, until=3600, now=row.last_used + 7200)
    assert result.copies == 1
    store.gc()
    assert not store.has_blob(copy)
    assert store.has_blob(layer)  # still tagged


def test_keep_storage_drops_copies_before_records(store: Store) -> None:
    layer = _image(store, b"budget " * 1000)
    store.cache.put(
        CacheRecord("k", layer.digest, layer.digest, layer.size, layer.media_type, last_used=1.0)
    )
    copy = _compress(store, layer)
    assert trim(store.cache, keep_storage=layer.size + copy.size) == trim(store.cache)
    result = trim(store.cache, keep_storage=layer.size)
    assert (result.dropped, result.copies) == ((), 1)
    assert trim(store.cache, keep_storage=0).dropped == ("k",)


def test_version_1_database_is_migrated(tmp_path: Path) -> None:
    from ocibuild.store import cache

    conn = sqlite3.connect(tmp_path / "c.db")
    conn.executescript(cache._SCHEMA)  # the version 1 schema, as written before
    conn.execute("INSERT INTO records(key, last_used, size) VALUES ('old', 1.0, 0)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    db = CacheDB(tmp_path / "c.db")
    assert [r.key for r in db.records()] == ["old"]
    assert db.compressed.all() == []
    assert db.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
