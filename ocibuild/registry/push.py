"""``push``: copy an image or an image index from the store to a registry, manifest last.

The store keeps layers uncompressed; for the push of an image they are
compressed with gzip and the manifest rewritten to name the compressed
blobs, by the same function that writes OCI archives
(:func:`ocibuild.export.archive.collect_blobs`), so a pushed image and an
exported one have the same manifest digest.  Blobs the repository already
has (HEAD) are skipped; a blob known to live in another repository of the
same registry is mounted from there when the registry allows it.  The
manifest is pushed last, as bytes, so a tag never names an image whose blobs
are missing.

An index (:func:`push_index`) is pushed exactly as stored: every child
manifest (by digest, its blobs as stored, since recompressing would change
the digests the index names), then the index bytes under the tag.
:func:`push_stored` picks: an index whose children are all in the store is
pushed whole; one pulled for a single platform is pushed as that platform's
image (what Docker's classic store does).

With ``on_event``, each blob uploaded is reported as a ``push`` transfer
(:mod:`ocibuild.progress`), named by digest, as its bytes are read.
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, BinaryIO, cast

from ocibuild._record import record
from ocibuild.export.archive import ExportBlob, collect_blobs
from ocibuild.oci import Index, Manifest, mediatypes

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping

    from ocibuild.oci import Descriptor, Digest, Platform, Reference
    from ocibuild.progress import Event
    from ocibuild.progress.report import Meter
    from ocibuild.registry.client import RegistryClient
    from ocibuild.store import Store, StoredImage

__all__ = ["PushResult", "PushTarget", "push", "push_index", "push_stored", "push_targets"]


@record
class PushResult:
    """The pushed manifest (or index) and how many blobs were uploaded, mounted or there."""

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
    on_event: Callable[[Event], None] | None = None,
) -> PushResult:
    """Push ``image`` as ``ref`` (a tag); ``mount_from`` maps blobs to a source repository.

    ``on_event`` receives the uploads as ``push`` transfers.
    """
    tag = ref.tag or "latest"
    return _push_image(store, image, ref.path, tag, client, "gzip", mount_from, on_event)


def push_index(
    store: Store,
    index: Descriptor,
    ref: Reference,
    client: RegistryClient,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> PushResult:
    """Push every manifest ``index`` names (recursively, by digest), then its bytes as ``ref``.

    ``on_event`` receives the uploads as ``push`` transfers.
    """
    return _push_index(store, index, ref.path, _reference(ref), client, on_event)


def _push_index(
    store: Store,
    index: Descriptor,
    repo: str,
    reference: str,
    client: RegistryClient,
    on_event: Callable[[Event], None] | None,
) -> PushResult:
    counts = [0, 0, 0]
    for child in Index.from_json(store.read_blob(index)).manifests:
        if child.media_type in mediatypes.INDEXES:
            done = _push_index(store, child, repo, str(child.digest), client, on_event)
        else:
            image = store.image(child)
            done = _push_image(
                store, image, repo, str(child.digest), client, "none", None, on_event
            )
        counts = [counts[0] + done.uploaded, counts[1] + done.mounted, counts[2] + done.existing]
    client.put_manifest(repo, reference, store.read_blob(index), index.media_type)
    return PushResult(index, *counts)


def push_stored(
    store: Store,
    desc: Descriptor,
    ref: Reference,
    client: RegistryClient,
    platform: Platform | None = None,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> PushResult:
    """Push what ``desc`` names: a complete index whole, else the platform's image.

    ``on_event`` receives the uploads as ``push`` transfers.
    """
    if desc.media_type in mediatypes.INDEXES and is_complete(store, desc):
        return push_index(store, desc, ref, client, on_event=on_event)
    return push(store, store.image(desc, platform), ref, client, on_event=on_event)


def is_complete(store: Store, desc: Descriptor) -> bool:
    """Whether the store has ``desc`` and, recursively, every blob it names."""
    if not store.has_blob(desc):
        return False
    if desc.media_type in mediatypes.INDEXES:
        children = Index.from_json(store.read_blob(desc)).manifests
        return all(is_complete(store, child) for child in children)
    if desc.media_type in mediatypes.MANIFESTS:
        manifest = Manifest.from_json(store.read_blob(desc))
        return all(store.has_blob(blob) for blob in (manifest.config, *manifest.layers))
    return True


@record
class PushTarget:
    """Where a build's image goes: a tag reference and a client for its registry."""

    ref: Reference
    client: RegistryClient


def push_targets(names: Iterable[str], insecure: Collection[str] = ()) -> list[PushTarget]:
    """Parse ``names`` and connect to their registries (before a build, so it fails early)."""
    from ocibuild.errors import UserError
    from ocibuild.export.names import image_names
    from ocibuild.registry.connect import connect

    targets: list[PushTarget] = []
    for ref in image_names(names):
        if ref.digest is not None:
            raise UserError(f"cannot push to a digest reference: {ref}")
        targets.append(PushTarget(ref, connect(ref.domain, insecure=insecure)))
    return targets


def _reference(ref: Reference) -> str:
    return str(ref.digest) if ref.digest is not None else ref.tag or "latest"


def _push_image(
    store: Store,
    image: StoredImage,
    repo: str,
    reference: str,
    client: RegistryClient,
    compression: str,
    mount_from: Mapping[Digest, str] | None,
    on_event: Callable[[Event], None] | None = None,
) -> PushResult:
    counts = {"uploaded": 0, "mounted": 0, "existing": 0}
    with contextlib.ExitStack() as stack:
        blobs: dict[Digest, ExportBlob] = {}
        manifest = collect_blobs(store, image, compression, blobs, stack)
        for digest, blob in sorted(blobs.items()):
            if digest == manifest.digest:
                continue
            source_repo = (mount_from or {}).get(digest)
            outcome = _push_blob(store, client, repo, blob, source_repo, on_event)
            counts[outcome] += 1
        top = blobs[manifest.digest]
        data = top.data if top.data is not None else store.read_blob(manifest.digest)
        client.put_manifest(repo, reference, data, manifest.media_type)
    return PushResult(manifest, **counts)


def _push_blob(
    store: Store,
    client: RegistryClient,
    repo: str,
    blob: ExportBlob,
    source_repo: str | None,
    on_event: Callable[[Event], None] | None = None,
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
        if on_event is None:
            client.push_blob(repo, desc, source)
            return "uploaded"
        from ocibuild.progress.report import Meter

        meter = Meter(on_event, "push", str(desc.digest), desc.size)
        client.push_blob(repo, desc, cast("BinaryIO", _MeteredReader(source, meter)))
        meter.finish(desc.size)
    return "uploaded"


class _MeteredReader:
    """A blob source that counts what the upload reads from it (a retry's rewind too)."""

    def __init__(self, source: BinaryIO, meter: Meter) -> None:
        self._source, self._meter = source, meter

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self._meter(len(data))
        return data

    def tell(self) -> int:
        return self._source.tell()

    def seek(self, offset: int, whence: int = 0, /) -> int:
        position = self._source.seek(offset, whence)
        self._meter.done = position
        return position
