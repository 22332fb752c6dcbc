"""``--cache-to/--cache-from type=registry``: the build cache as an OCI artifact.

Pushes and pulls the manifest :mod:`ocibuild.store.cache_export` builds and
reads: an OCI image manifest whose config is the records blob
(``application/vnd.ocibuild.cache.v1+json``) and whose layers are the
records' layer blobs exactly as the store keeps them (same digests and media
types, so a record names the pushed blob; no recompression).  Push: layers
the repository lacks (HEAD) are streamed from the store, then the records
blob, then the manifest last, so the tag never names a cache with missing
blobs.  Pull: the manifest, then the records blob, then only the layers the
store lacks, each streamed and published only when digest and size match;
records go in after every layer arrived, in one transaction.

A cache ref that does not exist (HTTP 404 for the manifest) imports nothing
and is not an error, as in BuildKit, whose failed cache imports are logged
and skipped.  Other failures (unreachable, unauthorized, corrupt or foreign
manifest) stay errors: the library cannot print a warning, and ignoring a
cache the user named but that cannot be read would hide the cause of a slow
build.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.errors import DigestMismatch, RegistryError
from ocibuild.oci import Descriptor, mediatypes
from ocibuild.store.cache_export import (
    CacheImportError,
    cache_payload,
    install_records,
    parse_cache,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ocibuild.oci import Reference
    from ocibuild.registry.client import RegistryClient
    from ocibuild.store import Store

__all__ = ["CachePull", "CachePush", "pull_cache", "push_cache"]


@record
class CachePush:
    """The pushed cache manifest, its record count and how many layers were uploaded."""

    manifest: Descriptor
    records: int
    uploaded: int
    existing: int


@record
class CachePull:
    """What an import did: records inserted and layers fetched (``found`` False: no cache)."""

    found: bool
    records: int
    fetched: int


def push_cache(
    store: Store, keys: Iterable[str], ref: Reference, client: RegistryClient
) -> CachePush:
    """Push the records of ``keys`` (those still in the db) and their layers as ``ref``."""
    repo = ref.path
    payload = cache_payload(store, keys)
    uploaded = 0
    for layer in payload.layers:
        if client.has_blob(repo, layer.digest):
            continue
        # A seekable file (retries rewind it); the registry checks the digest on PUT.
        with store.blob_path(layer).open("rb") as source:
            client.push_blob(repo, layer, source)
        uploaded += 1
    if not client.has_blob(repo, payload.config.digest):
        client.push_blob(repo, payload.config, io.BytesIO(payload.records))
    digest = client.put_manifest(
        repo, ref.tag or "latest", payload.manifest, mediatypes.OCI_MANIFEST
    )
    manifest = Descriptor(mediatypes.OCI_MANIFEST, digest, len(payload.manifest))
    return CachePush(manifest, payload.count, uploaded, len(payload.layers) - uploaded)


def pull_cache(store: Store, ref: Reference, client: RegistryClient) -> CachePull:
    """Import the cache at ``ref`` into ``store``; a missing ref imports nothing."""
    repo = ref.path
    where = f"{client.registry}/{repo}:{ref.tag}"
    try:
        fetched = client.get_manifest(repo, ref.tag or "latest")
    except RegistryError as err:
        if _not_found(err):
            return CachePull(found=False, records=0, fetched=0)
        raise
    if fetched.media_type != mediatypes.OCI_MANIFEST:
        raise CacheImportError(f"{where}: not an ocibuild cache ({fetched.media_type})")
    cache = parse_cache(fetched.data, lambda d: _records_blob(store, client, repo, d), where)
    copied = install_records(store, cache, lambda layer: _fetch(store, client, repo, layer))
    return CachePull(found=True, records=len(cache.records), fetched=len(copied))


def _records_blob(store: Store, client: RegistryClient, repo: str, desc: Descriptor) -> bytes:
    """The records blob, fetched through the store (verified; left for gc afterwards)."""
    if not store.has_blob(desc):
        _fetch(store, client, repo, desc)
    return store.read_blob(desc)


def _fetch(store: Store, client: RegistryClient, repo: str, desc: Descriptor) -> None:
    try:
        client.fetch_blob(repo, desc, store)
    except DigestMismatch as err:
        raise CacheImportError(f"{client.registry}/{repo}: corrupt cache blob: {err}") from None


def _not_found(err: RegistryError) -> bool:
    """A 404 for the manifest (MANIFEST_UNKNOWN, NAME_UNKNOWN): the cache does not exist.

    The client's errors carry the status only in their one-line message
    (``... GET manifests/TAG: HTTP 404 not found``).
    """
    return ": HTTP 404 " in str(err)
