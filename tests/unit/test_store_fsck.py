"""``fsck`` finds each kind of damage in a store, and calls a sound store clean."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from ocibuild import cli
from ocibuild.oci import Descriptor, Digest, ImageConfig, mediatypes
from ocibuild.store import Store
from ocibuild.store.cache import CacheRecord
from ocibuild.store.fsck import FsckReport, fsck
from ocibuild.store.scratch import CACHE_MOUNT_PREFIX, PIN_PREFIX, owned_name, scratch_dir

if TYPE_CHECKING:
    from pathlib import Path


def _dead_owner(prefix: str) -> str:
    """A name in ``prefix``'s owner pattern whose process has exited."""
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True).stdout)  # fmt: skip
    _, ns, _pid, start, rand = owned_name(prefix).rsplit("-", 4)
    return f"{prefix}{ns}-{pid}-{start}-{rand}"


def _image(
    store: Store, name: str = "app:1", body: bytes = b"layer"
) -> tuple[Descriptor, Descriptor]:
    layer = store.put_bytes(body, mediatypes.OCI_LAYER)
    config = ImageConfig("amd64", "linux", diff_ids=(Digest.from_bytes(body),))
    manifest = store.put_image(config, [layer])
    store.tag(name, manifest)
    return manifest, layer


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    _, layer = _image(store)
    store.cache.put(CacheRecord("k1", layer.digest, Digest.from_bytes(b"layer"), layer.size))
    store.cache.close()
    (store.snapshots_dir / ("a" * 64) / "diff").mkdir(parents=True)
    return store


def _lines(report: FsckReport) -> list[str]:
    return [str(p) for p in report.problems]


def test_sound_store_is_clean(store: Store) -> None:
    report = fsck(store.root)
    assert report.problems == ()
    assert report.clean
    assert dict(report.checked) == {
        "blobs": 3, "refs": 1, "gc roots": 0, "cache records": 1, "snapshots": 1,
    }  # fmt: skip
    assert report.summary().endswith(": clean")


def test_flipped_byte_in_a_blob(store: Store) -> None:
    _, layer = _image(store, "other:1", b"x" * 100)
    path = store.blob_path(layer)
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    report = fsck(store.root)
    assert not report.clean
    [line] = _lines(report)
    assert line.startswith(f"blob {layer.digest}: content hashes to sha256:")


def test_truncated_blob_is_wrong_in_content_and_size(store: Store) -> None:
    _, layer = _image(store, "other:1", b"y" * 100)
    path = store.blob_path(layer)
    path.write_bytes(path.read_bytes()[:50])
    lines = _lines(fsck(store.root))
    assert len(lines) == 2
    assert lines[0].startswith(f"blob {layer.digest}: content hashes to")
    assert lines[1] == f"ref other:1: layer {layer.digest} has 50 bytes, its descriptor says 100"


def test_deleted_referenced_blob(store: Store) -> None:
    manifest = store.resolve("app:1")
    assert manifest is not None
    config = store.image(manifest).config_desc
    store.blob_path(config).unlink()
    report = fsck(store.root)
    assert _lines(report) == [f"ref app:1: config {config.digest} is missing"]
    assert report.summary().endswith(": 1 problem")


def test_deleted_layer_of_a_cache_record(store: Store) -> None:
    layer = store.put_bytes(b"cached only", mediatypes.OCI_LAYER)
    store.cache.put(CacheRecord("k2", layer.digest, None, layer.size))
    store.blob_path(layer).unlink()
    assert _lines(fsck(store.root)) == [f"cache record k2: layer {layer.digest} is missing"]


def test_broken_cache_record(store: Store) -> None:
    with sqlite3.connect(store.cache_path) as conn:
        conn.execute("INSERT INTO records(key, layer_digest) VALUES ('bad', 'sha256:zz')")
    [line] = _lines(fsck(store.root))
    assert line.startswith("cache record bad: malformed: invalid sha256 digest")


def test_cache_database_that_is_not_one(store: Store) -> None:
    store.cache_path.write_bytes(b"not a database" * 100)
    [line] = _lines(fsck(store.root))
    assert line.startswith("cache ocibuild/cache.db: ")


def test_bad_index_json(store: Store) -> None:
    (store.root / "index.json").write_text('{"schemaVersion": 2, "manifests": [{"digest": 1}]}')
    [line] = _lines(fsck(store.root))
    assert line.startswith("layout index.json: ")


def test_unparsable_manifest_blob_named_right(store: Store) -> None:
    bogus = store.put_bytes(b"{not json", mediatypes.OCI_MANIFEST)
    store.tag("bogus:1", bogus)
    assert _lines(fsck(store.root)) == [
        f"ref bogus:1: manifest {bogus.digest} does not parse: "
        + _first_problem_message(store, bogus)
    ]


def _first_problem_message(store: Store, descriptor: Descriptor) -> str:
    from ocibuild.errors import UserError
    from ocibuild.oci import Manifest

    with pytest.raises(UserError) as info:
        Manifest.from_json(store.read_blob(descriptor))
    return str(info.value).splitlines()[0]


def test_blob_file_not_named_by_a_digest(store: Store) -> None:
    (store.blobs_dir / "sha256" / "notadigest").write_bytes(b"x")
    assert _lines(fsck(store.root)) == ["blob blobs/sha256/notadigest: file name is not a digest"]


def test_stray_and_stale_snapshot_dirs(store: Store) -> None:
    scratch_dir(store.snapshots_dir)  # ours, alive: in progress, not reported
    dead = store.snapshots_dir / _dead_owner("tmp-")
    (dead / "diff").mkdir(parents=True)
    (store.snapshots_dir / "junk").mkdir()
    (store.snapshots_dir / ("b" * 64)).mkdir()
    report = fsck(store.root)
    assert sorted(_lines(report)) == sorted([
        f"stale snapshot ocibuild/snapshots/{dead.name}: temp dir of a dead build "
        "(swept by the next build or prune)",
        "snapshot ocibuild/snapshots/junk: not a snapshot (no chain ID dir)",
        f"snapshot ocibuild/snapshots/{'b' * 64}: has no diff dir",
    ])  # fmt: skip
    assert not report.clean


def test_dead_builds_leftovers_are_stale_not_damage(store: Store) -> None:
    dead_pin = _dead_owner(PIN_PREFIX)
    store.set_root(dead_pin, [Descriptor(mediatypes.OCI_LAYER, Digest.from_bytes(b"gone"), 4)])
    store.set_root(owned_name(PIN_PREFIX), [])
    (store.snapshots_dir / _dead_owner("tmp-")).mkdir()
    store.cache_mounts_dir.mkdir()
    (store.cache_mounts_dir / _dead_owner(CACHE_MOUNT_PREFIX)).mkdir()
    old = store.tmp_dir / "blob-abandoned"
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    (store.tmp_dir / "blob-young").write_bytes(b"in progress")
    report = fsck(store.root)
    assert report.clean
    assert sorted(p.area for p in report.problems) == ["cache-mount", "root", "snapshot", "tmp"]
    assert all(p.stale for p in report.problems)
    assert report.summary().endswith(": clean, 4 stale")
    store.gc()
    assert fsck(store.root).problems == ()


def test_live_gc_root_naming_a_missing_blob(store: Store) -> None:
    gone = Descriptor(mediatypes.OCI_MANIFEST, Digest.from_bytes(b"gone"), 4)
    store.set_root("pinned", [gone])
    assert _lines(fsck(store.root)) == [
        f"ref ocibuild/roots/pinned.json: manifest {gone.digest} is missing"
    ]


def test_malformed_gc_root(store: Store) -> None:
    (store.roots_dir / "broken.json").write_text("{")
    [line] = _lines(fsck(store.root))
    assert line.startswith("root ocibuild/roots/broken.json: does not parse (gc would stop)")


def test_cli_exit_status_lines_and_json(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(store.root)
    assert cli.main(["fsck", "--root", root]) == 0
    assert capsys.readouterr().out.startswith("checked 3 blobs, 1 refs")
    store.blob_path(store.resolve("app:1")).write_bytes(b"{}")  # type: ignore[arg-type]
    assert cli.main(["fsck", "--root", root]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[-1].endswith(": 2 problems")
    assert cli.main(["fsck", "--json", "--root", root]) == 1
    obj = json.loads(capsys.readouterr().out)
    assert obj["clean"] is False
    assert [p["area"] for p in obj["problems"]] == ["blob", "ref"]


def test_cli_refuses_a_directory_without_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["fsck", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"ocibuild: no store at {tmp_path}\n"
    assert list(tmp_path.iterdir()) == []
