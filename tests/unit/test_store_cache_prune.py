"""``ocibuild prune``'s cache trimming: sizes, durations, LRU order, then gc."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild._record import replace
from ocibuild.cli import main
from ocibuild.oci import mediatypes
from ocibuild.store import Store
from ocibuild.store.cache import CacheRecord
from ocibuild.store.cache_prune import PruneError, parse_duration, parse_size, trim

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

NOW = 1_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "root")
    yield s
    s.cache.close()


def _put(store: Store, key: str, content: bytes, age: float) -> CacheRecord:
    layer = store.put_bytes(content, mediatypes.OCI_LAYER_GZIP)
    record = CacheRecord(
        key=key,
        layer_digest=layer.digest,
        layer_size=layer.size,
        media_type=layer.media_type,
        last_used=NOW - age,
    )
    store.cache.put(record)
    return record


def _keys(store: Store) -> list[str]:
    return [r.key for r in store.cache.records()]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1024", 1024),
        ("10GB", 10 * 1024**3),
        ("500MB", 500 * 1024**2),
        ("500mb", 500 * 1024**2),
        ("1.5g", 1536 * 1024**2),
        ("2KiB", 2048),
        ("3 MB", 3 * 1024**2),
        ("7b", 7),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "-1GB", "10XB", "1.2.3GB", "10 G B"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(PruneError, match="invalid size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("24h", 86400.0),
        ("30m", 1800.0),
        ("1h30m", 5400.0),
        ("90s", 90.0),
        ("1.5h", 5400.0),
        ("1500ms", 1.5),
        ("2h45m10s", 9910.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "24", "1d", "h", "-1h", "1h 30m", "1hx"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(PruneError, match="invalid duration"):
        parse_duration(text)


def test_until_drops_records_unused_for_longer(store: Store) -> None:
    _put(store, "old", b"o", age=7200)
    _put(store, "edge", b"e", age=3600)
    _put(store, "new", b"n", age=10)
    result = trim(store.cache, until=3600, now=NOW)
    assert result.dropped == ("old",)
    assert result.count == 1
    assert sorted(_keys(store)) == ["edge", "new"]


def test_keep_storage_drops_least_recently_used_first(store: Store) -> None:
    a = _put(store, "a", b"A" * 100, age=50)
    _put(store, "b", b"B" * 100, age=40)
    _put(store, "c", b"C" * 100, age=30)
    store.cache.get("a")  # a is now the most recently used
    result = trim(store.cache, keep_storage=250)
    assert result.dropped == ("b",)
    assert _keys(store) == ["c", "a"]
    assert trim(store.cache, keep_storage=100).dropped == ("c",)
    assert trim(store.cache, keep_storage=100).dropped == ()
    assert a.layer_size == 100


def test_keep_storage_counts_a_shared_layer_once(store: Store) -> None:
    _put(store, "one", b"S" * 100, age=30)
    _put(store, "two", b"S" * 100, age=20)  # the same blob
    _put(store, "three", b"T" * 100, age=10)
    assert trim(store.cache, keep_storage=200).dropped == ()
    # Dropping "one" frees nothing (two still uses the blob), so "two" goes too.
    assert trim(store.cache, keep_storage=150).dropped == ("one", "two")
    assert _keys(store) == ["three"]


def test_keep_storage_zero_drops_all(store: Store) -> None:
    _put(store, "a", b"a", age=2)
    store.cache.put(CacheRecord(key="no-layer", last_used=NOW - 1, empty_layer=True))
    assert trim(store.cache, keep_storage=0).count == 1
    assert _keys(store) == ["no-layer"]  # records without a layer cost nothing


def test_until_then_keep_storage(store: Store) -> None:
    _put(store, "ancient", b"x" * 10, age=10_000)
    _put(store, "mid", b"y" * 10, age=100)
    _put(store, "fresh", b"z" * 10, age=1)
    result = trim(store.cache, until=1000, keep_storage=10, now=NOW)
    assert result.dropped == ("ancient", "mid")


def test_api_prune_trims_then_collects(store: Store) -> None:
    kept = replace(_put(store, "kept", b"kept layer", age=0), last_used=time.time())
    gone = _put(store, "gone", b"gone layer", age=0)
    store.cache.put(kept)
    report = api.prune(store.root, until="1h")
    assert report.records == ("gone",)
    assert report.freed == len(b"gone layer")
    assert kept.layer_digest is not None and gone.layer_digest is not None
    assert store.has_blob(kept.layer_digest)
    assert not store.has_blob(gone.layer_digest)
    assert api.prune(store.root).records == ()
    assert store.has_blob(kept.layer_digest)  # no flags: records stay, gc only


def test_cli_prune_flags(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    _put(store, "a", b"a" * 2048, age=0)
    _put(store, "b", b"b" * 2048, age=0)
    store.cache.get("b")
    assert main(["prune", "--root", str(store.root), "--keep-storage", "3KB"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["Deleted build cache objects:", "a"]
    assert out.splitlines()[-1] == "Total reclaimed space: 2.05kB"
    assert main(["prune", "--root", str(store.root), "--filter", "label=x"]) == 1
    assert "only until=DURATION" in capsys.readouterr().err
    assert main(["prune", "--root", str(store.root), "--filter", "until=soon"]) == 1
    assert "invalid duration" in capsys.readouterr().err
    assert _keys(store) == ["b"]
