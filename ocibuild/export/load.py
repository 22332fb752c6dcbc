"""Image archives into the store: ``ocibuild load`` for OCI layout and docker-save tarballs.

The archive is read once, as a stream (it may come from a pipe, gzip'd or
not).  Every blob goes straight into the store through a hashing writer;
``blobs/<alg>/<hex>`` and docker's ``<hex>.json`` configs are checked against
their names while they stream.  Small documents (``index.json``,
``manifest.json``) are kept in memory.  Only when the whole archive has been
read and every referenced blob is present are names tagged, so a broken
archive leaves no ref behind (stray blobs are reclaimed by ``store.gc()``).

Names come from ``io.containerd.image.name`` or
``org.opencontainers.image.ref.name`` (when it is a full ``name:tag``, not a
bare tag) in ``index.json``, and from ``RepoTags`` in ``manifest.json``.
"""

from __future__ import annotations

import re
import tarfile
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from ocibuild._record import field, record
from ocibuild.errors import DigestMismatch, UserError
from ocibuild.export.archive import CONTAINERD_NAME
from ocibuild.oci import mediatypes
from ocibuild.oci._json import load_object
from ocibuild.oci.descriptor import Descriptor
from ocibuild.oci.digest import Digest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ocibuild.store import Store

__all__ = ["ArchiveError", "load_archive"]

_BLOB = re.compile(r"blobs/(sha256|sha512)/([0-9a-f]+)")
_LEGACY_CONFIG = re.compile(r"([0-9a-f]{64})\.json")
_DOCUMENTS = frozenset({"index.json", "manifest.json", "oci-layout", "repositories"})
_MAX_DOCUMENT = 16 << 20
_CHUNK = 1 << 20
_MAGIC = (
    (b"\x1f\x8b", mediatypes.OCI_LAYER_GZIP),
    (b"\x28\xb5\x2f\xfd", mediatypes.OCI_LAYER_ZSTD),
)


class ArchiveError(UserError):
    """An image archive is malformed, incomplete or does not match its digests."""


@record(frozen=False)
class _Contents:
    """What streaming the archive found: documents, and blobs by member name."""

    documents: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, Descriptor] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def file(self, name: str) -> Descriptor:
        seen: set[str] = set()
        while name in self.links and name not in seen:
            seen.add(name)
            name = self.links[name]
        found = self.files.get(name)
        if found is None:
            raise ArchiveError(f"invalid archive: {name} is missing")
        return found


def load_archive(store: Store, stream: BinaryIO) -> list[str]:
    """Load every image of the archive on ``stream``; return the names tagged
    (``name:tag``) or, for an unnamed image, its ID (the config digest)."""
    with store.in_use():  # no gc between writing the blobs and the tags
        contents = _read(store, stream)
        images = _images(store, contents)
        if not images:
            raise ArchiveError("invalid archive: no index.json or manifest.json with images")
        for manifest, _names in images:
            _check_complete(store, manifest)
        loaded: list[str] = []
        with store.lock():
            for manifest, names in images:
                for name in names:
                    store.tag(name, manifest)
                loaded.extend(names or [str(store.image(manifest).config_desc.digest)])
        return loaded


def _read(store: Store, stream: BinaryIO) -> _Contents:
    contents = _Contents()
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                _take(store, tar, member, contents)
    except tarfile.TarError as err:
        raise ArchiveError(f"invalid archive: {err}") from None
    except EOFError:
        raise ArchiveError("invalid archive: unexpected end of data") from None
    return contents


def _take(store: Store, tar: tarfile.TarFile, member: tarfile.TarInfo, out: _Contents) -> None:
    name = member.name.removeprefix("./")
    if member.issym() or member.islnk():
        base = name.rsplit("/", 1)[0] if member.issym() and "/" in name else ""
        target = member.linkname if member.islnk() else f"{base}/{member.linkname}"
        out.links[name] = _normpath(target)
        return
    if not member.isfile():
        return
    src = tar.extractfile(member)
    if src is None:  # pragma: no cover - isfile() members always have data
        return
    if name in _DOCUMENTS:
        if member.size > _MAX_DOCUMENT:
            raise ArchiveError(f"invalid archive: {name} is too large")
        out.documents[name] = src.read()
        return
    expected = _expected_digest(name)
    if expected is None and not name.endswith(("/layer.tar", ".tar", ".tar.gz")):
        return  # legacy per-layer metadata (json, VERSION): not needed
    out.files[name] = _put(store, src, expected, name)


def _normpath(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _expected_digest(name: str) -> Digest | None:
    if match := _BLOB.fullmatch(name):
        try:
            return Digest(match.group(1), match.group(2))
        except UserError as err:
            raise ArchiveError(f"invalid archive: {name}: {err}") from None
    if match := _LEGACY_CONFIG.fullmatch(name):
        return Digest("sha256", match.group(1))
    return None


def _put(store: Store, src: IO[bytes], expected: Digest | None, name: str) -> Descriptor:
    head = src.read(_CHUNK)
    media_type = next((mt for magic, mt in _MAGIC if head.startswith(magic)), mediatypes.OCI_LAYER)
    try:
        with store.writer(media_type) as writer:
            while head:
                writer.write(head)
                head = src.read(_CHUNK)
            return writer.commit(expected)
    except DigestMismatch as err:
        raise ArchiveError(f"invalid archive: {name} does not match its digest ({err})") from None


def _images(store: Store, contents: _Contents) -> list[tuple[Descriptor, list[str]]]:
    """(manifest descriptor, names) of every image, from index.json or manifest.json."""
    tags = _repo_tags(contents)
    if "index.json" in contents.documents:
        index = load_object(contents.documents["index.json"], "index.json")
        found: dict[Digest, tuple[Descriptor, list[str]]] = {}
        for desc in _manifests(store, index.get("manifests")):
            _plain_desc, names = found.setdefault(desc.digest, (_plain(desc), []))
            extra = _ref_names(desc) + tags.get(_config_of(store, desc), [])
            names.extend(n for n in extra if n not in names)
        return list(found.values())
    return [
        (manifest, tags.get(manifest_config, []))
        for manifest, manifest_config in _docker_manifests(store, contents)
    ]


def _manifests(store: Store, entries: Any) -> Iterator[Descriptor]:
    if not isinstance(entries, list):
        raise ArchiveError("invalid archive: index.json has no manifests list")
    for entry in entries:
        desc = Descriptor.from_json(entry)
        if desc.media_type in mediatypes.MANIFESTS:
            yield desc
        elif desc.media_type in mediatypes.INDEXES:
            yield _pick_platform(store, desc)


def _pick_platform(store: Store, index_desc: Descriptor) -> Descriptor:
    """The host platform's manifest of a nested index (or its only one)."""
    from ocibuild.oci.platform import Platform

    nested = load_object(_blob_bytes(store, index_desc.digest), "image index")
    candidates = [Descriptor.from_json(m) for m in nested.get("manifests") or []]
    manifests = [d for d in candidates if d.media_type in mediatypes.MANIFESTS]
    host = Platform.host()
    for desc in manifests:
        if desc.platform is not None and host.matches(desc.platform):
            return desc.with_annotations({**dict(index_desc.annotations), **dict(desc.annotations)})
    if len(manifests) == 1:
        return manifests[0].with_annotations(dict(index_desc.annotations))
    raise ArchiveError(f"invalid archive: no manifest for {host} in index {index_desc.digest}")


def _ref_names(desc: Descriptor) -> list[str]:
    from ocibuild.oci.reference import Reference

    full = desc.annotation(CONTAINERD_NAME)
    ref_name = desc.annotation(mediatypes.REF_NAME_ANNOTATION)
    if full:
        return [Reference.parse(full).familiar()]
    if ref_name and any(c in ref_name for c in ":/@"):
        return [Reference.parse(ref_name).familiar()]
    return []


def _plain(desc: Descriptor) -> Descriptor:
    return Descriptor(desc.media_type, desc.digest, desc.size, platform=desc.platform)


def _repo_tags(contents: _Contents) -> dict[Digest, list[str]]:
    """Config digest -> RepoTags, from docker's manifest.json."""
    from ocibuild.oci.reference import Reference

    tags: dict[Digest, list[str]] = {}
    for entry in _docker_entries(contents):
        config = contents.file(str(entry["Config"])).digest
        for tag in entry.get("RepoTags") or []:
            tags.setdefault(config, []).append(Reference.parse(str(tag)).familiar())
    return tags


def _docker_entries(contents: _Contents) -> list[dict[str, Any]]:
    import json

    raw = contents.documents.get("manifest.json")
    if raw is None:
        return []
    try:
        entries = json.loads(raw)
    except ValueError as err:
        raise ArchiveError(f"invalid archive: manifest.json: {err}") from None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "Config" in e for e in entries
    ):
        raise ArchiveError("invalid archive: manifest.json is not a list of {Config, Layers}")
    return entries


def _docker_manifests(store: Store, contents: _Contents) -> Iterator[tuple[Descriptor, Digest]]:
    """Make an OCI manifest for each entry of docker's manifest.json (config bytes kept)."""
    from ocibuild.oci.manifest import Manifest

    for entry in _docker_entries(contents):
        config_file = contents.file(str(entry["Config"]))
        config = Descriptor(mediatypes.OCI_CONFIG, config_file.digest, config_file.size)
        layers = tuple(contents.file(str(path)) for path in entry.get("Layers") or [])
        data = Manifest(config=config, layers=layers).to_json()
        yield store.put_bytes(data, mediatypes.OCI_MANIFEST), config.digest


def _config_of(store: Store, manifest: Descriptor) -> Digest:
    doc = load_object(_blob_bytes(store, manifest.digest), "image manifest")
    try:
        return Digest.parse(str(doc["config"]["digest"]))
    except (KeyError, TypeError):
        raise ArchiveError(f"invalid archive: manifest {manifest.digest} has no config") from None


def _blob_bytes(store: Store, digest: Digest) -> bytes:
    if not store.has_blob(digest):
        raise ArchiveError(f"invalid archive: blob {digest} is missing")
    with store.open_blob(digest) as src:
        data: bytes = src.read()
    return data


def _check_complete(store: Store, manifest: Descriptor) -> None:
    """Every blob the manifest needs must be in the store now."""
    doc = load_object(_blob_bytes(store, manifest.digest), "image manifest")
    for entry in [doc.get("config"), *(doc.get("layers") or [])]:
        desc = Descriptor.from_json(entry or {})
        if not store.has_blob(desc.digest) and not desc.urls:
            raise ArchiveError(f"invalid archive: blob {desc.digest} is missing")
