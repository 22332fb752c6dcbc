"""``push``: copy an image from the store to a registry, manifest last.

The store keeps layers uncompressed; for the push they are compressed with
gzip and the manifest rewritten to name the compressed blobs, by the same
function that writes OCI archives (:mod:`ocibuild.export.archive`), so a
pushed image and an exported one have the same manifest digest.  Blobs the
repository already has (HEAD) are skipped; a blob known to live in another
repository of the same registry is mounted from there when the registry
allows it.  The manifest is pushed last, as bytes, so a tag never names an
image whose blobs are missing.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from ocibuild.export.archive import _Blob, _collect

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ocibuild.oci import Descriptor, Digest, Reference
    from ocibuild.registry.client import RegistryClient
    from ocibuild.store import Store, StoredImage

__all__ = ["PushResult", "push"]


@dataclass(frozen=True, slots=True)
class PushResult:
    """The pushed manifest and how many blobs were uploaded, mounted or already there."""

    manifest: Descriptor
    uploaded: int
    mounted: int
    existing: int


def push(
    store: Store,
    image: StoredImage,
    ref: Reference,
    client: RegistryClient,
    *,
    mount_from: Mapping[Digest, str] | None = None,
) -> PushResult:
    """Push ``image`` as ``ref`` (a tag); ``mount_from`` maps blobs to a source repository."""
    repo = ref.path
    counts = {"uploaded": 0, "mounted": 0, "existing": 0}
    with contextlib.ExitStack() as stack:
        blobs: dict[Digest, _Blob] = {}
        manifest = _collect(store, image, "gzip", blobs, stack)
        for digest, blob in sorted(blobs.items()):
            if digest == manifest.digest:
                continue
            outcome = _push_blob(store, client, repo, blob, (mount_from or {}).get(digest))
            counts[outcome] += 1
        top = blobs[manifest.digest]
        data = top.data if top.data is not None else store.read_blob(manifest.digest)
        client.put_manifest(repo, ref.tag or "latest", data, manifest.media_type)
    return PushResult(manifest, **counts)


def _push_blob(
    store: Store, client: RegistryClient, repo: str, blob: _Blob, source_repo: str | None
) -> str:
    desc = blob.descriptor
    if client.has_blob(repo, desc.digest):
        return "existing"
    if source_repo and source_repo != repo and client.mount_blob(repo, desc.digest, source_repo):
        return "mounted"
    with contextlib.ExitStack() as stack:
        source: BinaryIO
        if blob.spool is not None:
            blob.spool.seek(0)
            source = blob.spool  # type: ignore[assignment]
        elif blob.data is not None:
            source = io.BytesIO(blob.data)
        else:
            source = stack.enter_context(store.blob_path(desc.digest).open("rb"))
        client.push_blob(repo, desc, source)
    return "uploaded"
