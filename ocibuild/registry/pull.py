"""``pull``: copy an image from a registry into the store, all or nothing.

Order: the manifest is resolved first (an index is kept and the platform's
manifest chosen from it), then config and layers are streamed in (blobs
already present are skipped), then the manifest bytes, exactly as served,
and the index; the tag is written last.  Every blob is published only when
complete and verified, so an interrupted pull leaves no tag and no partial
blob (unreferenced blobs are collected by ``gc``).  Docker schema 2 and OCI
media types are both accepted; layers stay as the registry compressed them.
With ``on_event``, the manifest and each blob fetched are reported as
``pull`` transfers (:mod:`ocibuild.progress`), named by digest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ocibuild._record import record
from ocibuild.errors import RegistryError, UserError
from ocibuild.oci import Descriptor, Index, Manifest, Platform, Reference, mediatypes

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocibuild.progress import Event
    from ocibuild.registry.client import FetchedManifest, RegistryClient
    from ocibuild.store import Store

__all__ = ["PullResult", "pull"]

_T = TypeVar("_T")


@record
class PullResult:
    """What was pulled: the top descriptor (index or manifest), the chosen manifest, the tag."""

    top: Descriptor
    manifest: Descriptor
    tag: str | None


def pull(
    store: Store,
    ref: Reference,
    client: RegistryClient,
    platform: Platform | None = None,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> PullResult:
    """Pull ``ref`` into ``store`` and tag it (tag references only); return what was stored.

    ``on_event`` receives the transfers (manifest, then each blob fetched).
    """
    with store.in_use():  # no gc between fetching the blobs and the tag
        repo = ref.path
        top = client.get_manifest(repo, str(ref.digest) if ref.digest else ref.tag)
        chosen = top
        if top.media_type in mediatypes.INDEXES:
            chosen = _from_index(client, repo, top, platform or Platform.host())
        elif top.media_type not in mediatypes.MANIFESTS:
            raise RegistryError(
                f"{client.registry}/{repo}: unsupported manifest type {top.media_type!r}"
            )
        manifest = _parse(Manifest.from_json, chosen, client, repo)
        if on_event is not None:
            _report_manifest(on_event, chosen)
        for blob in (manifest.config, *manifest.layers):
            if not store.has_blob(blob):
                _fetch(client, repo, blob, store, on_event)
        manifest_desc = store.put_bytes(chosen.data, chosen.media_type)
        top_desc = store.put_bytes(top.data, top.media_type) if top is not chosen else manifest_desc
        tag = None
        if ref.digest is None:
            with store.lock():
                tag = store.tag(ref.familiar(), top_desc)
        else:
            store.set_root(f"pulled-{top_desc.digest.hex}", [top_desc])
        return PullResult(top_desc, manifest_desc, tag)


def _report_manifest(on_event: Callable[[Event], None], fetched: FetchedManifest) -> None:
    from ocibuild.progress import Transfer

    size = len(fetched.data)
    on_event(Transfer(None, "pull", str(fetched.digest), size, size))


def _fetch(
    client: RegistryClient,
    repo: str,
    blob: Descriptor,
    store: Store,
    on_event: Callable[[Event], None] | None,
) -> None:
    if on_event is None:
        client.fetch_blob(repo, blob, store)
        return
    from ocibuild.progress.report import Meter

    meter = Meter(on_event, "pull", str(blob.digest), blob.size)
    client.fetch_blob(repo, blob, store, on_bytes=meter)
    meter.finish(blob.size)


def _from_index(
    client: RegistryClient, repo: str, top: FetchedManifest, platform: Platform
) -> FetchedManifest:
    index = _parse(Index.from_json, top, client, repo)
    for entry in index.manifests:
        if entry.platform is not None and entry.platform.matches(platform):
            chosen = client.get_manifest(repo, str(entry.digest))
            if chosen.media_type in mediatypes.INDEXES:
                return _from_index(client, repo, chosen, platform)
            return chosen
    raise RegistryError(f"{client.registry}/{repo}: no manifest for platform {platform}")


def _parse(
    parse: Callable[[bytes], _T], fetched: FetchedManifest, client: RegistryClient, repo: str
) -> _T:
    try:
        return parse(fetched.data)
    except UserError as err:
        raise RegistryError(
            f"{client.registry}/{repo}: bad manifest {fetched.digest}: {err}"
        ) from None
