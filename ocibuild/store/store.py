"""The local store: an OCI image layout plus ocibuild's own ``ocibuild/`` dir.

::

    ROOT/oci-layout            {"imageLayoutVersion":"1.0.0"}
    ROOT/index.json            tagged images (ref.name annotations)
    ROOT/blobs/sha256/<hex>    content-addressed blobs
    ROOT/ocibuild/lock         flock for writers of refs and gc
    ROOT/ocibuild/tmp/         temp files (same filesystem as blobs)
    ROOT/ocibuild/roots/       extra gc roots (*.json)
    ROOT/ocibuild/cache.db     build cache records, compressed copies (ocibuild.store.cache)
    ROOT/ocibuild/snapshots/   reserved for ocibuild.snapshot
    ROOT/ocibuild/cache-mounts/ RUN --mount=type=cache dirs (ocibuild.executor)

Blob writes need no lock (content-addressed, renamed into place); changes to
``index.json`` and ``gc`` run under :meth:`Store.lock`.  See
docs/design/003-store.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import record
from ocibuild.errors import StoreError, UserError
from ocibuild.oci import (
    Descriptor,
    Digest,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    canonical,
    mediatypes,
)
from ocibuild.store import gc as _gc
from ocibuild.store import refs as _refs
from ocibuild.store._fs import write_atomic
from ocibuild.store.blobs import BlobWriter, blob_file, open_verified
from ocibuild.store.cache import CacheDB
from ocibuild.store.lock import gc_exclusive, in_use, store_lock
from ocibuild.store.scratch import CACHE_MOUNT_PREFIX, PIN_PREFIX, owner_alive, sweep_scratch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

__all__ = ["ImageNotFoundError", "Store", "StoredImage"]

_ROOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class ImageNotFoundError(UserError):
    """No image in the store has the given name, digest or ID."""


@record
class StoredImage:
    """One single-platform image read from the store."""

    manifest_desc: Descriptor
    manifest: Manifest
    config_desc: Descriptor
    config: ImageConfig


class Store:
    """An OCI image layout at ``root`` (created if missing)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.meta_dir = self.root / "ocibuild"
        self.tmp_dir = self.meta_dir / "tmp"
        self.roots_dir = self.meta_dir / "roots"
        self.snapshots_dir = self.meta_dir / "snapshots"
        self.cache_path = self.meta_dir / "cache.db"
        self.cache_mounts_dir = self.meta_dir / "cache-mounts"
        self._cache: CacheDB | None = None
        for path in (self.blobs_dir / "sha256", self.tmp_dir, self.roots_dir, self.snapshots_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._init_layout()

    @staticmethod
    def default_root() -> Path:
        """``$OCIBUILD_ROOT``, else /var/lib/ocibuild for root, else the XDG data dir."""
        if os.environ.get("OCIBUILD_ROOT"):
            return Path(os.environ["OCIBUILD_ROOT"])
        if os.geteuid() == 0:
            return Path("/var/lib/ocibuild")
        data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(data_home) / "ocibuild"

    def _init_layout(self) -> None:
        layout, index = self.root / "oci-layout", self.root / "index.json"
        if not (layout.exists() and index.exists()):
            with self.lock():
                if not layout.exists():
                    body = {"imageLayoutVersion": mediatypes.OCI_LAYOUT_VERSION}
                    write_atomic(layout, canonical(body), self.tmp_dir)
                if not index.exists():
                    write_atomic(index, Index().to_json(), self.tmp_dir)
        try:
            version = json.loads(layout.read_bytes()).get("imageLayoutVersion")
        except (ValueError, AttributeError) as err:
            raise StoreError(f"invalid oci-layout file in {self.root}: {err}") from None
        if version != mediatypes.OCI_LAYOUT_VERSION:
            raise StoreError(f"unsupported OCI layout version {version!r} in {self.root}")

    # -- locking -----------------------------------------------------------

    def lock(self, *, blocking: bool = True) -> contextlib.AbstractContextManager[None]:
        """Exclusive writer lock (re-entrant in this process); ``StoreLockedError`` if busy."""
        return store_lock(self.meta_dir / "lock", blocking=blocking)

    def in_use(self) -> contextlib.AbstractContextManager[None]:
        """Keep gc out while blobs are found or written and not yet referenced.

        A build (until it has tagged its image), a pull, a load or a push
        holds it; ``gc`` waits for every holder, here and in other processes.
        """
        self.meta_dir.mkdir(parents=True, exist_ok=True)
        return in_use(self.meta_dir / "gc.lock")

    def gc_lock(
        self, on_wait: Callable[[], None] | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """The lock :meth:`gc` takes, for callers that do more first (prune's
        record trim): waits for every :meth:`in_use` holder, calling
        ``on_wait`` first when there is one; take it before :meth:`lock`,
        never inside it."""
        self.meta_dir.mkdir(parents=True, exist_ok=True)
        return gc_exclusive(self.meta_dir / "gc.lock", self.meta_dir / "lock", on_wait)

    # -- blobs ---------------------------------------------------------------

    def blob_path(self, digest: Digest | Descriptor) -> Path:
        """Where a blob lives (it may not exist)."""
        return blob_file(self.blobs_dir, _digest_of(digest))

    def has_blob(self, digest: Digest | Descriptor) -> bool:
        """Whether the blob is present."""
        return self.blob_path(digest).is_file()

    def writer(self, media_type: str, *, verify: bool = True) -> BlobWriter:
        """A streaming writer; ``commit()`` publishes the blob atomically.

        ``verify=False`` when the caller hashes what it writes itself and
        passes the digest to ``commit`` (it is trusted, not checked).
        """
        return BlobWriter(self.blobs_dir, self.tmp_dir, media_type, verify=verify)

    def put_bytes(self, data: bytes, media_type: str) -> Descriptor:
        """Store ``data`` and return its descriptor."""
        digest = Digest.from_bytes(data)
        if self.has_blob(digest):
            return Descriptor(media_type, digest, len(data))
        with self.writer(media_type) as writer:
            writer.write(data)
            return writer.commit(digest)

    def open_blob(self, digest: Digest | Descriptor) -> BinaryIO:
        """A reader that raises ``DigestMismatch`` at EOF if the content is wrong."""
        size = digest.size if isinstance(digest, Descriptor) else None
        path = self.blob_path(digest)
        try:
            return open_verified(path, _digest_of(digest), size)
        except FileNotFoundError:
            raise StoreError(f"blob not found: {_digest_of(digest)}") from None

    def read_blob(self, digest: Digest | Descriptor) -> bytes:
        """The whole (verified) content of a small blob such as a manifest."""
        with self.open_blob(digest) as reader:
            return reader.read()

    # -- refs ----------------------------------------------------------------

    def index(self) -> Index:
        """The current ``index.json``."""
        try:
            return Index.from_json((self.root / "index.json").read_bytes())
        except (OSError, UserError) as err:
            raise StoreError(f"cannot read {self.root}/index.json: {err}") from None

    def _write_index(self, index: Index) -> None:
        write_atomic(self.root / "index.json", index.to_json(), self.tmp_dir)

    def tag(self, name: str, descriptor: Descriptor) -> str:
        """Point ``name`` at ``descriptor``; returns the stored (familiar) name."""
        stored = _refs.ref_name(name)
        with self.lock():
            index = self.index()
            updated = _refs.with_tag(index, stored, descriptor)
            if updated != index:  # a rebuild's tag usually names what it did
                self._write_index(updated)
        return stored

    def untag(self, name: str) -> bool:
        """Remove the tag ``name``; False if there was none."""
        names = {name}
        with contextlib.suppress(UserError):
            names.add(_refs.ref_name(name))
        with self.lock():
            index = self.index()
            updated = _refs.without_tag(index, names)
            if updated == index:
                return False
            self._write_index(updated)
        return True

    def refs(self) -> list[tuple[str, Descriptor]]:
        """All tags, sorted by name."""
        named = [
            (name, entry)
            for entry in self.index().manifests
            if (name := entry.annotation(mediatypes.REF_NAME_ANNOTATION)) is not None
        ]
        return sorted(named, key=lambda pair: pair[0])

    def resolve(self, name: str) -> Descriptor | None:
        """The descriptor ``name`` refers to, or ``None``.

        ``name`` may be a tag in any Docker spelling, ``name@digest``, a
        manifest digest, or an image ID (config digest) in full or as a unique
        hex prefix, with or without ``sha256:``.
        """
        index = self.index()
        found = _refs.find_by_name(index, name)
        if found is not None:
            return found
        return _refs.match_id(self._candidates(index), name)

    def _candidates(self, index: Index) -> Iterator[_refs.Candidate]:
        for entry in index.manifests:
            yield from self._candidates_of(entry)

    def _candidates_of(self, entry: Descriptor) -> Iterator[_refs.Candidate]:
        is_manifest = entry.media_type in mediatypes.MANIFESTS
        is_index = entry.media_type in mediatypes.INDEXES
        if not (is_manifest or is_index) or not self.has_blob(entry):
            yield _refs.Candidate(entry, None)
            return
        try:
            data = self.read_blob(entry)
            config = Manifest.from_json(data).config.digest if is_manifest else None
            children = Index.from_json(data).manifests if is_index else ()
        except UserError as err:
            raise StoreError(f"cannot read {entry.digest}: {err}") from None
        yield _refs.Candidate(entry, config)
        for child in children:
            yield from self._candidates_of(child)

    # -- images --------------------------------------------------------------

    def image(self, ref: str | Descriptor, platform: Platform | None = None) -> StoredImage:
        """Read an image; an index is followed to ``platform`` (default: the host's)."""
        descriptor = self.resolve(ref) if isinstance(ref, str) else ref
        if descriptor is None:
            raise ImageNotFoundError(f"no such image: {ref}")
        manifest_desc = self._select(descriptor, platform or Platform.host())
        manifest = Manifest.from_json(self.read_blob(manifest_desc))
        config = ImageConfig.from_json(self.read_blob(manifest.config))
        return StoredImage(manifest_desc, manifest, manifest.config, config)

    def _select(self, descriptor: Descriptor, platform: Platform) -> Descriptor:
        if descriptor.media_type not in mediatypes.INDEXES:
            return descriptor
        for entry in Index.from_json(self.read_blob(descriptor)).manifests:
            if entry.platform is not None and entry.platform.matches(platform):
                return self._select(entry, platform)
        raise ImageNotFoundError(f"image {descriptor.digest} has no manifest for {platform}")

    def put_image(
        self,
        config: ImageConfig,
        layers: Sequence[Descriptor],
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> Descriptor:
        """Write config and manifest blobs (no tag); returns the manifest descriptor."""
        if len(layers) != len(config.diff_ids):
            raise ValueError(f"{len(layers)} layers but {len(config.diff_ids)} diff_ids")
        config_desc = self.put_bytes(config.to_json(), mediatypes.OCI_CONFIG)
        manifest = Manifest(config_desc, tuple(layers), tuple(sorted((annotations or {}).items())))
        return self.put_bytes(manifest.to_json(), mediatypes.OCI_MANIFEST)

    # -- build cache -----------------------------------------------------------

    @property
    def cache(self) -> CacheDB:
        """The build cache database (``ocibuild/cache.db``, opened on first use)."""
        if self._cache is None:
            self._cache = CacheDB(self.cache_path, has_blob=self.has_blob)
        return self._cache

    # -- garbage collection ----------------------------------------------------

    def extra_roots(self) -> list[Descriptor]:
        """Descriptors pinned by ``ocibuild/roots/*.json`` (kept by :meth:`gc`);
        the pins of builds whose process is gone (``build-<owner>-...``) are
        dropped first."""
        for path in self.roots_dir.glob(f"{PIN_PREFIX}*.json"):
            if not owner_alive(path.stem, PIN_PREFIX):
                path.unlink(missing_ok=True)
        return _gc.read_extra_roots(self.roots_dir)

    def set_root(
        self, name: str, descriptors: Sequence[Descriptor], *, durable: bool = True
    ) -> None:
        """Pin ``descriptors`` (and all they reference) under ``roots/<name>.json``.

        ``durable=False`` for a pin that only matters while its owner runs
        (it is not fsynced: after a crash it is swept anyway).
        """
        body = canonical({"descriptors": [d.to_json() for d in descriptors]})
        write_atomic(self._root_file(name), body, self.tmp_dir, durable=durable)

    def remove_root(self, name: str) -> None:
        """Drop the pin ``name`` (no error if absent)."""
        self._root_file(name).unlink(missing_ok=True)

    def _root_file(self, name: str) -> Path:
        if not _ROOT_NAME.fullmatch(name):
            raise ValueError(f"invalid gc root name: {name!r}")
        return self.roots_dir / f"{name}.json"

    def gc(self, *, min_age: float = 0.0) -> int:
        """Delete unreachable blobs older than ``min_age`` s and dead temp files; bytes freed.

        Waits until no build, pull, load or push holds :meth:`in_use`: a blob
        such an operation found or wrote may not be referenced yet.  A
        compressed copy of a layer (``ocibuild.store.compressed``) lives as
        long as its uncompressed layer: its row is dropped before the sweep
        once the layer is unreachable.
        """
        with self.gc_lock(), self.lock():
            roots = [*self.index().manifests, *self.extra_roots(), *self._cache_roots()]
            live = _gc.reachable(roots, self._read_if_present)
            live |= self._compressed_copies(live)
            freed = _gc.sweep_blobs(self.blobs_dir, live, min_age)
            sweep_scratch(self.snapshots_dir)  # temp dirs of killed builds
            sweep_scratch(self.cache_mounts_dir, CACHE_MOUNT_PREFIX)
            return freed + _gc.sweep_tmp(self.tmp_dir)

    def layer_diff_ids(self) -> set[Digest]:
        """The diff_id of every layer an image, gc root or build cache record keeps."""
        configs: list[Descriptor] = []
        roots = [*self.index().manifests, *self.extra_roots()]
        _gc.reachable(roots, self._read_if_present, configs)
        found: set[Digest] = set()
        for descriptor in configs:
            data = self._read_if_present(descriptor.digest)
            with contextlib.suppress(UserError):  # unreadable: its snapshots go (a copy only)
                found.update(ImageConfig.from_json(data or b"").diff_ids)
        if self.cache_path.exists():
            found.update(r.diff_id for r in self.cache.records() if r.diff_id is not None)
        return found

    def _cache_roots(self) -> list[Descriptor]:
        """Every layer a build cache record names (none if there is no cache yet)."""
        return self.cache.layers() if self.cache_path.exists() else []

    def _compressed_copies(self, live: set[Digest]) -> set[Digest]:
        """Drop the compressed copies of dead layers; the blobs of the others (kept)."""
        return self.cache.compressed.keep_live(live) if self.cache_path.exists() else set()

    def _read_if_present(self, digest: Digest) -> bytes | None:
        return self.read_blob(digest) if self.has_blob(digest) else None


def _digest_of(value: Digest | Descriptor) -> Digest:
    return value.digest if isinstance(value, Descriptor) else value
