"""The build cache database: records, the stat cache, concurrency, crash safety, gc roots."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from ocibuild._record import replace
from ocibuild.errors import StoreError
from ocibuild.oci import Digest, mediatypes
from ocibuild.store import Store
from ocibuild.store.cache import SCHEMA_VERSION, CacheDB, CacheRecord

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.synchronize import Event as EventType
    from pathlib import Path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "root")
    yield s
    s.cache.close()


def _record(store: Store, key: str, content: bytes, *, used: float = 0.0) -> CacheRecord:
    layer = store.put_bytes(content, mediatypes.OCI_LAYER_GZIP)
    return CacheRecord(
        key=key,
        layer_digest=layer.digest,
        diff_id=Digest.from_bytes(b"diff " + content),
        layer_size=layer.size,
        media_type=layer.media_type,
        created="2024-01-02T03:04:05Z",
        created_by="RUN echo " + key,
        last_used=used,
        size=len(content) * 2,
    )


def test_put_get_round_trip_and_touch(store: Store) -> None:
    record = _record(store, "sha256:" + "a" * 64, b"layer one", used=100.0)
    store.cache.put(record)
    before = time.time()
    got = store.cache.get(record.key)
    assert got is not None
    assert replace(got, last_used=0.0) == replace(record, last_used=0.0)
    assert got.last_used >= before
    assert [r.last_used for r in store.cache.records()] == [got.last_used]
    assert got.layer is not None
    assert got.layer.digest == record.layer_digest
    assert got.layer.size == record.layer_size


def test_get_miss_and_key_as_digest(store: Store) -> None:
    digest = Digest.from_bytes(b"key")
    assert store.cache.get(digest) is None
    store.cache.put(_record(store, str(digest), b"x"))
    assert store.cache.get(digest) is not None


def test_put_without_last_used_means_now(store: Store) -> None:
    before = time.time()
    store.cache.put(_record(store, "k", b"x"))
    (only,) = store.cache.records()
    assert only.last_used >= before


def test_record_without_layer(store: Store) -> None:
    empty = CacheRecord(key="k", created="c", created_by="RUN true", empty_layer=True)
    store.cache.put(empty)
    got = store.cache.get("k")
    assert got is not None
    assert got.layer is None
    assert got.empty_layer
    assert got.layer_digest is None


def test_missing_blob_is_a_miss_and_dropped(store: Store) -> None:
    record = _record(store, "k", b"doomed")
    store.cache.put(record)
    assert record.layer_digest is not None
    store.blob_path(record.layer_digest).unlink()
    assert store.cache.get("k") is None
    assert list(store.cache.records()) == []


def test_put_replaces_and_delete(store: Store) -> None:
    store.cache.put(_record(store, "k", b"old"))
    store.cache.put(_record(store, "k", b"new"))
    (only,) = store.cache.records()
    assert only.layer_digest == Digest.from_bytes(b"new")
    store.cache.put(_record(store, "j", b"other"))
    assert store.cache.delete(["k", "missing"]) == 1
    assert [r.key for r in store.cache.records()] == ["j"]


def test_records_oldest_first(store: Store) -> None:
    for key, used in (("b", 30.0), ("a", 10.0), ("c", 20.0)):
        store.cache.put(_record(store, key, key.encode(), used=used))
    assert [r.key for r in store.cache.records()] == ["a", "c", "b"]
    assert [r.key for r in store.cache.find(["c", "nope", "a"])] == ["c", "a"]


def test_schema_version_and_newer_schema_refused(tmp_path: Path) -> None:
    db = CacheDB(tmp_path / "c.db")
    assert db.integrity_check() == "ok"
    db.close()
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        CacheDB(tmp_path / "c.db").integrity_check()


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "c.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cache database"):
        CacheDB(tmp_path / "c.db").get("k")


# -- stat cache ------------------------------------------------------------------


_STAT_FIELDS = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns", "st_mode")


_NS = ("st_atime_ns", "st_mtime_ns", "st_ctime_ns")
_SEQ = {"st_mode": 0, "st_ino": 1, "st_dev": 2, "st_size": 6}


def _changed(st: os.stat_result, field: str) -> os.stat_result:
    """``st`` with one field one higher (a sequence field or a nanosecond time)."""
    values = list(st)
    extra = {name: getattr(st, name) for name in _NS}
    if field in _SEQ:
        values[_SEQ[field]] += 1
    else:
        extra[field] += 1
    return os.stat_result(values, extra)


def test_stat_cache_hits_only_on_identical_stat(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"content")
    st = path.stat()
    assert store.cache.stat_get(path, st) is None
    store.cache.stat_put(path, st, "sha256:" + "1" * 64)
    assert store.cache.stat_get(str(path), st) == "sha256:" + "1" * 64
    assert store.cache.stat_get(tmp_path / "other", st) is None
    for field in _STAT_FIELDS:
        other = _changed(st, field)
        assert getattr(other, field) != getattr(st, field)
        assert store.cache.stat_get(path, other) is None, field
    atime_only = _changed(st, "st_atime_ns")
    assert store.cache.stat_get(path, atime_only) == "sha256:" + "1" * 64


def test_stat_put_replaces(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"v1")
    store.cache.stat_put(path, path.stat(), "sha256:" + "1" * 64)
    path.write_bytes(b"v2!")
    assert store.cache.stat_get(path, path.stat()) is None
    store.cache.stat_put(path, path.stat(), "sha256:" + "2" * 64)
    assert store.cache.stat_get(path, path.stat()) == "sha256:" + "2" * 64


# -- gc --------------------------------------------------------------------------


def test_gc_keeps_cached_layers(store: Store) -> None:
    record = _record(store, "k", b"cached layer")
    store.cache.put(record)
    stray = store.put_bytes(b"stray", "application/octet-stream")
    store.gc()
    assert record.layer_digest is not None
    assert store.has_blob(record.layer_digest)
    assert not store.has_blob(stray)
    store.cache.delete(["k"])
    store.gc()
    assert not store.has_blob(record.layer_digest)


def test_gc_without_cache_db_creates_none(store: Store) -> None:
    store.gc()
    assert not store.cache_path.exists()


# -- concurrency and crashes ----------------------------------------------------------


def _put_many(db_path: str, prefix: str, count: int, go: EventType) -> None:
    db = CacheDB(db_path)
    db.integrity_check()  # opened before the race starts
    go.wait(60)
    for i in range(count):
        db.put(CacheRecord(key=f"{prefix}-{i}", created_by="RUN x", last_used=float(i)))
        db.stat_put(f"/{prefix}/{i}", os.stat(db_path), "sha256:" + "0" * 64)
    db.close()


def test_two_processes_put_at_once(tmp_path: Path) -> None:
    db_path = str(tmp_path / "cache.db")
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    workers = [ctx.Process(target=_put_many, args=(db_path, p, 300, go)) for p in ("a", "b")]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    go.set()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    db = CacheDB(db_path)
    keys = {r.key for r in db.records()}
    assert keys == {f"{p}-{i}" for p in ("a", "b") for i in range(300)}
    db.close()


_CRASH_LOOP = """
import sys
from ocibuild.store.cache import CacheDB, CacheRecord
db = CacheDB(sys.argv[1])
i = 0
while True:
    db.put(CacheRecord(key=f"k-{i}", created_by="RUN " + "x" * 500, size=i))
    i += 1
    if i == 50:
        print("ready", flush=True)
"""


def test_kill_during_puts_leaves_a_sound_db(tmp_path: Path) -> None:
    db_path = tmp_path / "cache.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH_LOOP, str(db_path)], stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    db = CacheDB(db_path)
    assert db.integrity_check() == "ok"
    sizes = sorted(r.size for r in db.records())
    assert len(sizes) >= 50
    assert sizes == list(range(len(sizes)))  # a prefix: nothing committed was lost
    db.put(CacheRecord(key="after"))
    assert db.get("after") is not None
    db.close()


def test_stat_lookup_reads_one_directory(store: Store, tmp_path: Path) -> None:
    st = tmp_path.stat()
    inside, nested, sibling = "/ctx/a", "/ctx/d/b", "/ctx0/c"
    store.cache.stat_put_many(
        [
            (inside, st, "1" * 64),
            (nested, st, "2" * 64),
            (sibling, st, "3" * 64),
            ("/ctx", st, "4" * 64),
        ]
    )
    lookup = store.cache.stat_lookup("/ctx/")
    assert (lookup(inside, st), lookup(nested, st)) == ("1" * 64, "2" * 64)
    assert lookup(sibling, st) is None  # "/ctx0" is not under "/ctx"
    assert lookup("/ctx", st) is None  # nor is the directory itself
    assert lookup(inside, (tmp_path / "..").stat()) is None  # other stat: a miss
    store.cache.stat_put(inside + "x", st, "5" * 64)
    assert lookup(inside + "x", st) is None  # a snapshot of one query
    assert store.cache.stat_lookup("/ctx")(inside + "x", st) == "5" * 64


def test_get_without_touch_then_touch_in_one_go(store: Store) -> None:
    one = _record(store, "one", b"layer one", used=100.0)
    two = _record(store, "two", b"layer two", used=100.0)
    store.cache.put_many((one, two))
    got = store.cache.get("one", touch=False)
    assert got is not None
    assert got.last_used == 100.0
    assert {r.last_used for r in store.cache.records()} == {100.0}
    before = time.time()
    now = store.cache.touch(["one", "two", "one", "missing"])
    assert now >= before
    assert {r.key: r.last_used for r in store.cache.records()} == {"one": now, "two": now}
    assert store.cache.touch([]) > 0


def test_threads_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    import threading

    for round_ in range(30):
        db = CacheDB(tmp_path / f"cache-{round_}.db")
        start, errors = threading.Barrier(6), list[BaseException]()

        def use(
            n: int,
            db: CacheDB = db,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            start.wait()
            try:
                db.get(f"k{n}")
                db.put(CacheRecord(key=f"k{n}", created_by="RUN x"))
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=use, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        db.close()
        assert errors == []
