"""--cache-to / --cache-from type=local: spec parsing and the export/import round trip."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild._record import replace
from ocibuild.cli import main
from ocibuild.errors import RegistryError
from ocibuild.oci import Digest, Index, Manifest, mediatypes
from ocibuild.store import Store
from ocibuild.store.cache import CacheRecord
from ocibuild.store.cache_export import (
    CACHE_MEDIA_TYPE,
    CACHE_TAG,
    CacheImportError,
    CacheSpec,
    CacheSpecError,
    check_supported,
    export_cache,
    import_cache,
    keys_for,
    parse_cache_spec,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    yield a, b
    a.cache.close()
    b.cache.close()


def _put(store: Store, key: str, content: bytes | None) -> CacheRecord:
    if content is None:
        record = CacheRecord(key=key, created="t0", created_by="RUN true", empty_layer=True)
    else:
        layer = store.put_bytes(content, mediatypes.OCI_LAYER_GZIP)
        record = CacheRecord(
            key=key,
            layer_digest=layer.digest,
            diff_id=Digest.from_bytes(b"diff" + content),
            layer_size=layer.size,
            media_type=layer.media_type,
            created="2024-05-06T07:08:09Z",
            created_by=f"COPY {key} /",
            size=3 * len(content),
        )
    store.cache.put(record)
    return record


def _comparable(store: Store) -> list[CacheRecord]:
    return [replace(r, last_used=0.0) for r in sorted(store.cache.records(), key=lambda r: r.key)]


@pytest.mark.parametrize(
    ("text", "direction", "spec"),
    [
        ("type=local,dest=/x", "to", CacheSpec("local", path="/x")),
        ("type=local,dest=/x,mode=max", "to", CacheSpec("local", path="/x", mode="max")),
        ("dest=/x", "to", CacheSpec("local", path="/x")),
        ("type=local,src=/y", "from", CacheSpec("local", path="/y")),
        ("type=registry,ref=r/c:1", "from", CacheSpec("registry", ref="r/c:1")),
        ("r/c:1", "from", CacheSpec("registry", ref="r/c:1")),
    ],
)
def test_parse_cache_spec(text: str, direction: str, spec: CacheSpec) -> None:
    assert parse_cache_spec(text, direction=direction) == spec  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "direction", "message"),
    [
        ("type=local,src=/x", "to", "dest=DIR is required"),
        ("type=local,dest=/x", "from", "src=DIR is required"),
        ("type=gha", "to", "type must be local or registry"),
        ("type=local,dest=/x,mode=all", "to", "mode must be min or max"),
        ("type=local,,dest=/x", "to", "key=value"),
    ],
)
def test_parse_cache_spec_refuses(text: str, direction: str, message: str) -> None:
    with pytest.raises(CacheSpecError, match=message):
        parse_cache_spec(text, direction=direction)  # type: ignore[arg-type]


def test_registry_cache_specs_are_checked() -> None:
    check_supported(CacheSpec("local", path="/x"))
    check_supported(parse_cache_spec("type=registry,ref=localhost:5000/r/c:1", direction="to"))
    with pytest.raises(CacheSpecError, match="ref=REF is required"):
        parse_cache_spec("type=registry", direction="to")
    with pytest.raises(CacheSpecError, match="invalid cache ref 'R/C'"):
        check_supported(CacheSpec("registry", ref="R/C"))
    with pytest.raises(CacheSpecError, match="name a tag, not a digest"):
        check_supported(CacheSpec("registry", ref="r/c@sha256:" + "a" * 64))


def test_keys_for_mode() -> None:
    assert keys_for(CacheSpec("local", "/x", "max"), ["a", "b"], ["b"]) == ["a", "b"]
    assert keys_for(CacheSpec("local", "/x", "min"), ["a", "b"], ["b"]) == ["b"]


def test_round_trip_into_an_empty_store(stores: tuple[Store, Store], tmp_path: Path) -> None:
    a, b = stores
    one = _put(a, "k1", b"layer one")
    _put(a, "k2", b"layer two")
    _put(a, "k3", None)
    _put(a, "k4", b"layer one")  # shares k1's blob
    _put(a, "not-used", b"not exported")
    dest = tmp_path / "cache"
    assert export_cache(a, ["k1", "k2", "k3", "k4", "gone"], dest) == 4
    index = Index.from_json((dest / "index.json").read_bytes())
    (entry,) = index.manifests
    assert entry.annotation(mediatypes.REF_NAME_ANNOTATION) == CACHE_TAG
    manifest = Manifest.from_json((dest / "blobs/sha256" / entry.digest.hex).read_bytes())
    assert manifest.config.media_type == CACHE_MEDIA_TYPE
    assert len(manifest.layers) == 2
    assert json.loads((dest / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}

    assert import_cache(b, dest) == 4
    expected = [r for r in _comparable(a) if r.key != "not-used"]
    assert _comparable(b) == expected
    for record in expected:
        if record.layer_digest is not None:
            assert b.read_blob(record.layer_digest) == a.read_blob(record.layer_digest)
    assert one.layer_digest is not None
    assert b.cache.get("k1") is not None
    b.gc()  # imported layers are cache roots now
    assert b.has_blob(one.layer_digest)
    assert list(b.roots_dir.iterdir()) == []


def test_export_again_replaces_the_tag_and_keeps_other_entries(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    a, b = stores
    _put(a, "k1", b"first")
    dest = tmp_path / "cache"
    export_cache(a, ["k1"], dest)
    _put(a, "k2", b"second")
    export_cache(a, ["k2"], dest)
    assert len(Index.from_json((dest / "index.json").read_bytes()).manifests) == 1
    import_cache(b, dest)
    assert [r.key for r in b.cache.records()] == ["k2"]


def test_corrupt_blob_is_refused_and_nothing_imported(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    a, b = stores
    _put(a, "k1", b"good layer")
    bad = _put(a, "k2", b"to be corrupted")
    dest = tmp_path / "cache"
    export_cache(a, ["k1", "k2"], dest)
    assert bad.layer_digest is not None
    blob = dest / "blobs/sha256" / bad.layer_digest.hex
    blob.write_bytes(b"to be CORRUPTED")  # same size, other content
    with pytest.raises(CacheImportError, match="corrupt"):
        import_cache(b, dest)
    assert list(b.cache.records()) == []
    assert list((b.blobs_dir / "sha256").iterdir()) == []
    blob.unlink()
    with pytest.raises(CacheImportError, match="missing"):
        import_cache(b, dest)
    assert list(b.cache.records()) == []


def test_import_from_nothing(stores: tuple[Store, Store], tmp_path: Path) -> None:
    _, b = stores
    with pytest.raises(CacheImportError, match="no cache to import"):
        import_cache(b, tmp_path / "nowhere")
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout/index.json").write_bytes(Index().to_json())
    with pytest.raises(CacheImportError, match="no ocibuild-cache entry"):
        import_cache(b, tmp_path / "layout")


# -- wiring: api.build and the CLI ----------------------------------------------------


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (ctx / "a").write_text("hi\n")
    return ctx


@pytest.mark.parametrize(
    ("cache_to", "cache_from"),
    [(["type=registry"], []), ([], ["r/c:bad tag"]), (["type=local"], [])],
)
def test_build_refuses_bad_cache_specs_before_building(
    tmp_path: Path, cache_to: list[str], cache_from: list[str]
) -> None:
    with pytest.raises(CacheSpecError):
        api.build(tmp_path, root=tmp_path / "store", cache_to=cache_to, cache_from=cache_from)
    assert not (tmp_path / "store").exists()


def test_build_refuses_a_remote_cache_registry_offline_before_building(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="OCIBUILD_OFFLINE"):
        api.build(tmp_path, root=tmp_path / "store", cache_to=["type=registry,ref=example.com/c"])
    assert not (tmp_path / "store").exists()


def test_build_imports_then_exports(stores: tuple[Store, Store], tmp_path: Path) -> None:
    a, b = stores
    _put(a, "k1", b"layer one")
    export_cache(a, ["k1"], tmp_path / "in")
    out = tmp_path / "out"
    api.build(
        _context(tmp_path),
        root=b.root,
        cache_from=[f"type=local,src={tmp_path / 'in'}"],
        cache_to=[f"type=local,dest={out},mode=max"],
    )
    assert "k1" in {r.key for r in b.cache.records()}  # the build adds its own records
    (entry,) = Index.from_json((out / "index.json").read_bytes()).manifests
    assert entry.annotation(mediatypes.REF_NAME_ANNOTATION) == CACHE_TAG


def test_cli_cache_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = _context(tmp_path)
    store = str(tmp_path / "store")
    assert main(["build", "--root", store, "--cache-to", f"dest={tmp_path}/out", str(ctx)]) == 0
    assert (tmp_path / "out/index.json").is_file()
    argv = ["build", "--root", store, "--cache-from", f"src={tmp_path}/out", str(ctx)]
    assert main(argv) == 0
    assert main(["build", "--root", store, "--cache-to", "type=registry", str(ctx)]) == 1
    assert "ref=REF is required for type=registry" in capsys.readouterr().err
