"""push_cache / pull_cache over an in-memory registry (a one-function transport)."""

from __future__ import annotations

import io
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from ocibuild._record import replace
from ocibuild.errors import RegistryError
from ocibuild.oci import Digest, Manifest, Reference, mediatypes
from ocibuild.registry import Authenticator, RegistryClient, Request, Response
from ocibuild.registry.cache import pull_cache, push_cache
from ocibuild.store import Store
from ocibuild.store.cache import CacheRecord
from ocibuild.store.cache_export import CACHE_MEDIA_TYPE, CacheImportError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REF = Reference.parse("reg.test/team/cache:main")


@dataclass
class MemoryRegistry:
    """Enough of the distribution API for a cache push and pull."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    gets: list[str] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        url = urllib.parse.urlsplit(request.url)
        kind, _, name = url.path.removeprefix("/v2/team/cache/").partition("/")
        status, headers, body = self._answer(request, kind, name, url.query)
        stream = io.BytesIO(body)
        return Response(status, headers, request.url, stream.read, stream.close)

    def _answer(
        self, request: Request, kind: str, name: str, query: str
    ) -> tuple[int, dict[str, str], bytes]:
        body = request.body
        data = body if isinstance(body, bytes) else body.read() if body is not None else b""
        if kind == "manifests" and request.method == "PUT":
            self.manifests[name] = (dict(request.headers)["Content-Type"], data)
            return 201, {}, b""
        if kind == "manifests":
            if name not in self.manifests:
                return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            media_type, manifest = self.manifests[name]
            return 200, {"content-type": media_type}, manifest
        if kind == "blobs" and name == "uploads/" and request.method == "POST":
            return 202, {"location": "/v2/team/cache/blobs/uploads/u1"}, b""
        if kind == "blobs" and name.startswith("uploads/"):
            digest = urllib.parse.parse_qs(query)["digest"][0]
            self.blobs[digest] = data
            return 201, {}, b""
        if name not in self.blobs:
            return 404, {}, b""
        if request.method == "GET":
            self.gets.append(name)
        return 200, {}, self.blobs[name] if request.method == "GET" else b""


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    yield a, b
    a.cache.close()
    b.cache.close()


def _client(registry: MemoryRegistry) -> RegistryClient:
    auth = Authenticator("reg.test", registry, None)
    return RegistryClient("reg.test", registry, auth, sleep=lambda _: None)


def _put(store: Store, key: str, content: bytes) -> CacheRecord:
    layer = store.put_bytes(content, mediatypes.OCI_LAYER)
    record = CacheRecord(
        key=key,
        layer_digest=layer.digest,
        diff_id=layer.digest,
        layer_size=layer.size,
        media_type=layer.media_type,
        created="2024-05-06T07:08:09Z",
        created_by=f"RUN {key}",
        size=layer.size,
    )
    store.cache.put(record)
    return record


def _records(store: Store) -> list[CacheRecord]:
    return [replace(r, last_used=0.0) for r in sorted(store.cache.records(), key=lambda r: r.key)]


def test_push_then_pull_into_an_empty_store(stores: tuple[Store, Store]) -> None:
    a, b = stores
    _put(a, "k1", b"layer one")
    _put(a, "k2", b"layer two")
    registry = MemoryRegistry()
    pushed = push_cache(a, ["k1", "k2", "gone"], REF, _client(registry))
    assert (pushed.records, pushed.uploaded, pushed.existing) == (2, 2, 0)
    media_type, data = registry.manifests["main"]
    assert media_type == mediatypes.OCI_MANIFEST
    assert Digest.from_bytes(data) == pushed.manifest.digest
    assert Manifest.from_json(data).config.media_type == CACHE_MEDIA_TYPE

    pulled = pull_cache(b, REF, _client(registry))
    assert (pulled.found, pulled.records, pulled.fetched) == (True, 2, 2)
    assert _records(b) == _records(a)
    assert push_cache(a, ["k1", "k2"], REF, _client(registry)).uploaded == 0


def test_pull_fetches_only_missing_layers(stores: tuple[Store, Store]) -> None:
    a, b = stores
    one = _put(a, "k1", b"layer one")
    two = _put(a, "k2", b"layer two")
    registry = MemoryRegistry()
    push_cache(a, ["k1", "k2"], REF, _client(registry))
    b.put_bytes(b"layer one", mediatypes.OCI_LAYER)
    assert pull_cache(b, REF, _client(registry)).fetched == 1
    assert str(one.layer_digest) not in registry.gets
    assert str(two.layer_digest) in registry.gets


def test_a_missing_ref_imports_nothing(stores: tuple[Store, Store]) -> None:
    _, b = stores
    pulled = pull_cache(b, REF, _client(MemoryRegistry()))
    assert (pulled.found, pulled.records) == (False, 0)
    assert _records(b) == []


def test_a_corrupt_layer_imports_no_record(stores: tuple[Store, Store]) -> None:
    a, b = stores
    _put(a, "k1", b"layer one")
    bad = _put(a, "k2", b"layer two")
    registry = MemoryRegistry()
    push_cache(a, ["k1", "k2"], REF, _client(registry))
    registry.blobs[str(bad.layer_digest)] = b"layer TWO"  # same size, other bytes
    with pytest.raises(CacheImportError, match="corrupt cache blob"):
        pull_cache(b, REF, _client(registry))
    assert _records(b) == []
    assert not b.has_blob(bad.layer_digest)  # type: ignore[arg-type]


def test_an_image_manifest_is_not_a_cache(stores: tuple[Store, Store]) -> None:
    a, b = stores
    registry = MemoryRegistry()
    config = a.put_bytes(b"{}", mediatypes.OCI_CONFIG)
    registry.blobs[str(config.digest)] = b"{}"
    registry.manifests["main"] = (mediatypes.OCI_MANIFEST, Manifest(config, ()).to_json())
    with pytest.raises(CacheImportError, match="is not an ocibuild cache"):
        pull_cache(b, REF, _client(registry))


def test_other_registry_errors_are_not_swallowed(stores: tuple[Store, Store]) -> None:
    _, b = stores

    def denied(request: Request) -> Response:
        stream = io.BytesIO(b'{"errors":[{"code":"DENIED"}]}')
        return Response(403, {}, request.url, stream.read, stream.close)

    client = RegistryClient("reg.test", denied, Authenticator("reg.test", denied, None))
    with pytest.raises(RegistryError, match="HTTP 403"):
        pull_cache(b, REF, client)
