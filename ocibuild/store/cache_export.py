"""``--cache-to`` / ``--cache-from``: build cache records as an OCI image layout.

Owns the exchange format and the copying.  An export directory is an OCI
layout whose ``index.json`` has one entry tagged ``ocibuild-cache``: a
manifest whose config is the records blob (:data:`CACHE_MEDIA_TYPE`, a
canonical JSON ``{"records": [...]}``) and whose layers are the records'
layer blobs.  Other index entries and old blobs in the directory are left
alone.  Import checks every blob's digest and size before anything enters
the store, copies blobs while pinning them, then inserts all records in one
transaction, so a failed import leaves no records behind.  Which records a
build used is the executor's business (``BuildResult.cache_keys``).

The same manifest is what ``type=registry`` pushes and pulls: this module
builds it (:func:`cache_payload`), reads it back (:func:`parse_cache`) and
installs records (:func:`install_records`); the transfer over the network
lives in :mod:`ocibuild.registry.cache`, since the store never imports the
registry client.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, cast

from ocibuild._record import record
from ocibuild.errors import StoreError, UserError
from ocibuild.oci import Descriptor, Digest, Index, Manifest, Reference, canonical, mediatypes
from ocibuild.store._fs import FILE_MODE, fsync_dir, write_atomic
from ocibuild.store.blobs import blob_file, open_verified
from ocibuild.store.cache import CacheRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from ocibuild.store import Store

__all__ = [
    "CACHE_MEDIA_TYPE",
    "CACHE_TAG",
    "CacheImportError",
    "CachePayload",
    "CacheSpec",
    "CacheSpecError",
    "ParsedCache",
    "cache_payload",
    "check_supported",
    "export_cache",
    "import_cache",
    "install_records",
    "keys_for",
    "parse_cache",
    "parse_cache_spec",
]

CACHE_MEDIA_TYPE = "application/vnd.ocibuild.cache.v1+json"
CACHE_TAG = "ocibuild-cache"
_CHUNK = 1 << 20


class CacheSpecError(UserError):
    """A malformed or unsupported ``--cache-to`` / ``--cache-from`` value."""


class CacheImportError(UserError):
    """A ``--cache-from`` directory is missing, malformed or holds a corrupt blob."""


@record
class CacheSpec:
    """A --cache-to/--cache-from: ``local`` with ``path``, or ``registry`` with ``ref``."""

    type: Literal["local", "registry"]
    path: str | None = None
    mode: Literal["min", "max"] = "min"
    ref: str | None = None


def parse_cache_spec(text: str, *, direction: Literal["to", "from"]) -> CacheSpec:
    """``type=local,dest=DIR[,mode=min|max]`` (to), ``type=local,src=DIR`` (from), or a registry."""
    flag = f"--cache-{direction}"
    if "=" not in text:  # docker: a bare value is a registry ref
        return CacheSpec("registry", ref=text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise CacheSpecError(f"invalid {flag} {text!r}: expected key=value fields")
        fields[key.strip().lower()] = value
    kind = fields.pop("type", "local")
    mode = fields.pop("mode", "min")
    if mode not in ("min", "max"):
        raise CacheSpecError(f"invalid {flag} {text!r}: mode must be min or max")
    mode_ = cast("Literal['min', 'max']", mode)
    if kind == "registry":
        ref = fields.get("ref")
        if not ref:
            raise CacheSpecError(f"invalid {flag} {text!r}: ref=REF is required for type=registry")
        return CacheSpec("registry", ref=ref, mode=mode_)
    if kind != "local":
        raise CacheSpecError(f"invalid {flag} {text!r}: type must be local or registry")
    path = fields.pop("dest" if direction == "to" else "src", None)
    if not path:
        need = "dest" if direction == "to" else "src"
        raise CacheSpecError(f"invalid {flag} {text!r}: {need}=DIR is required for type=local")
    return CacheSpec("local", path=path, mode=mode_)


def check_supported(spec: CacheSpec) -> None:
    """Refuse a spec that cannot work (before a build starts): a bad or digest ref."""
    if spec.type != "registry":
        return
    try:
        ref = Reference.parse(spec.ref or "")
    except UserError as err:
        raise CacheSpecError(f"invalid cache ref {spec.ref!r}: {err}") from None
    if ref.digest is not None:
        raise CacheSpecError(f"invalid cache ref {spec.ref!r}: name a tag, not a digest")


# -- export ------------------------------------------------------------------------


@record
class CachePayload:
    """The cache manifest of some records: its bytes, the records blob, the layers."""

    manifest: bytes
    records: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]
    count: int


def cache_payload(store: Store, keys: Iterable[str]) -> CachePayload:
    """The cache manifest for the records of ``keys`` still in the db (deterministic)."""
    records = sorted(store.cache.find(dict.fromkeys(keys)), key=lambda r: r.key)
    layers = sorted({r.layer for r in records if r.layer is not None}, key=lambda d: str(d.digest))
    body = canonical({"records": [_record_json(r) for r in records]})
    config = Descriptor(CACHE_MEDIA_TYPE, Digest.from_bytes(body), len(body))
    manifest = Manifest(config, tuple(layers)).to_json()
    return CachePayload(manifest, body, config, tuple(layers), len(records))


def export_cache(store: Store, keys: Iterable[str], dest: str | os.PathLike[str]) -> int:
    """Write the records of ``keys`` (those still in the db) and their layers to ``dest``."""
    out = Path(dest)
    blobs = out / "blobs"
    (blobs / "sha256").mkdir(parents=True, exist_ok=True)
    payload = cache_payload(store, keys)
    for layer in payload.layers:
        _copy_out(store, layer, blobs, out)
    _put_bytes(blobs, out, payload.records, CACHE_MEDIA_TYPE)
    manifest = _put_bytes(blobs, out, payload.manifest, mediatypes.OCI_MANIFEST)
    _write_index(out, manifest.with_annotations({mediatypes.REF_NAME_ANNOTATION: CACHE_TAG}))
    return payload.count


def _copy_out(store: Store, layer: Descriptor, blobs: Path, out: Path) -> None:
    target = blob_file(blobs, layer.digest)
    if target.is_file():
        return
    with store.open_blob(layer) as reader, _atomic(target, out) as tmp:
        while chunk := reader.read(_CHUNK):
            tmp.write(chunk)


def _put_bytes(blobs: Path, out: Path, data: bytes, media_type: str) -> Descriptor:
    digest = Digest.from_bytes(data)
    target = blob_file(blobs, digest)
    if not target.is_file():
        with _atomic(target, out) as tmp:
            tmp.write(data)
    return Descriptor(media_type, digest, len(data))


@contextlib.contextmanager
def _atomic(target: Path, out: Path) -> Iterator[BinaryIO]:
    """A temp file in ``out`` renamed to ``target`` once fully written and fsynced."""
    fd, name = tempfile.mkstemp(dir=out, prefix=".blob-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), FILE_MODE)
            yield tmp
            tmp.flush()
            os.fsync(tmp.fileno())
        Path(name).replace(target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _write_index(out: Path, entry: Descriptor) -> None:
    layout = out / "oci-layout"
    if not layout.exists():
        body = {"imageLayoutVersion": mediatypes.OCI_LAYOUT_VERSION}
        write_atomic(layout, canonical(body), out)
    index_path = out / "index.json"
    index = _read_index(index_path) if index_path.exists() else Index()
    kept = tuple(m for m in index.manifests if _tag(m) != CACHE_TAG)
    write_atomic(index_path, Index((*kept, entry)).to_json(), out)


def _record_json(record: CacheRecord) -> dict[str, Any]:
    layer = record.layer
    return {
        "key": record.key,
        "layer": layer.to_json() if layer is not None else None,
        "diffID": str(record.diff_id) if record.diff_id else None,
        "created": record.created,
        "createdBy": record.created_by,
        "emptyLayer": record.empty_layer,
        "size": record.size,
    }


# -- import ------------------------------------------------------------------------


@record
class ParsedCache:
    """A cache manifest read back: its records and the layers they need."""

    records: tuple[CacheRecord, ...]
    layers: tuple[Descriptor, ...]


def parse_cache(
    manifest_json: bytes, records_of: Callable[[Descriptor], bytes], where: str
) -> ParsedCache:
    """Read a cache manifest; ``records_of`` returns the (verified) records blob."""
    try:
        manifest = Manifest.from_json(manifest_json)
    except UserError as err:
        raise CacheImportError(f"{where}: malformed cache manifest: {err}") from None
    if manifest.config.media_type != CACHE_MEDIA_TYPE:
        raise CacheImportError(f"{where}: {CACHE_TAG} is not an ocibuild cache")
    records = _parse_records(records_of(manifest.config), where)
    layers = {d.digest: d for d in manifest.layers}
    needed = [layers[r.layer_digest] for r in records if r.layer_digest in layers]
    if len(needed) != sum(1 for r in records if r.layer_digest is not None):
        raise CacheImportError(f"{where}: a cache record names a layer the manifest lacks")
    return ParsedCache(tuple(records), tuple({d.digest: d for d in needed}.values()))


def install_records(
    store: Store, cache: ParsedCache, copy_in: Callable[[Descriptor], None]
) -> list[Descriptor]:
    """Copy the layers ``store`` lacks with ``copy_in`` (pinned), then insert every record.

    ``copy_in`` must publish only verified blobs.  The records go in one
    transaction after every copy succeeded, so a failure inserts none.
    Returns the layers that were copied.
    """
    missing = [d for d in cache.layers if not store.has_blob(d)]
    root_name = f"cache-import-{os.getpid()}-{threading.get_ident()}"
    store.set_root(root_name, missing)
    try:
        for layer in missing:
            copy_in(layer)
        store.cache.put_many(cache.records)
    finally:
        store.remove_root(root_name)
    return missing


def import_cache(store: Store, src: str | os.PathLike[str]) -> int:
    """Copy the records of the cache at ``src`` (and their layers) into ``store``."""
    root = Path(src)
    blobs = root / "blobs"
    cache = parse_cache(
        _read_small(blobs, _cache_entry(root)), lambda d: _read_small(blobs, d), str(root)
    )
    for layer in cache.layers:
        if not store.has_blob(layer):
            _verify(blobs, layer)  # every blob checked before any is copied
    install_records(store, cache, lambda layer: _copy_in(store, blobs, layer))
    return len(cache.records)


def _cache_entry(root: Path) -> Descriptor:
    index_path = root / "index.json"
    if not index_path.is_file():
        raise CacheImportError(f"no cache to import at {root}: {index_path} not found")
    for entry in _read_index(index_path).manifests:
        if _tag(entry) == CACHE_TAG and entry.media_type == mediatypes.OCI_MANIFEST:
            return entry
    raise CacheImportError(f"no cache to import at {root}: no {CACHE_TAG} entry")


def _read_small(blobs: Path, descriptor: Descriptor) -> bytes:
    path = blob_file(blobs, descriptor.digest)
    try:
        with open_verified(path, descriptor.digest, descriptor.size) as f:
            return f.read()
    except FileNotFoundError:
        raise CacheImportError(f"cache blob {descriptor.digest} is missing") from None
    except StoreError as err:
        raise CacheImportError(f"cache blob is corrupt: {err}") from None


def _verify(blobs: Path, layer: Descriptor) -> None:
    try:
        with open_verified(blob_file(blobs, layer.digest), layer.digest, layer.size) as f:
            while f.read(_CHUNK):
                pass
    except FileNotFoundError:
        raise CacheImportError(f"cache blob {layer.digest} is missing") from None
    except StoreError as err:
        raise CacheImportError(f"cache blob is corrupt: {err}") from None


def _copy_in(store: Store, blobs: Path, layer: Descriptor) -> None:
    with (
        open_verified(blob_file(blobs, layer.digest), layer.digest, layer.size) as reader,
        store.writer(layer.media_type) as writer,
    ):
        while chunk := reader.read(_CHUNK):
            writer.write(chunk)
        writer.commit(layer.digest)


def _parse_records(data: bytes, where: str) -> list[CacheRecord]:
    try:
        return [_record_from(obj) for obj in json.loads(data)["records"]]
    except (ValueError, KeyError, TypeError, UserError) as err:
        raise CacheImportError(f"{where}: malformed cache records: {err}") from None


def _record_from(obj: dict[str, Any]) -> CacheRecord:
    layer = Descriptor.from_json(obj["layer"]) if obj.get("layer") else None
    return CacheRecord(
        key=str(obj["key"]),
        layer_digest=layer.digest if layer else None,
        diff_id=Digest.parse(obj["diffID"]) if obj.get("diffID") else None,
        layer_size=layer.size if layer else None,
        media_type=layer.media_type if layer else None,
        created=str(obj.get("created") or ""),
        created_by=str(obj.get("createdBy") or ""),
        empty_layer=bool(obj.get("emptyLayer")),
        size=int(obj.get("size") or 0),
    )


def _read_index(path: Path) -> Index:
    try:
        return Index.from_json(path.read_bytes())
    except (OSError, UserError) as err:
        raise CacheImportError(f"cannot read {path}: {err}") from None


def _tag(entry: Descriptor) -> str | None:
    return entry.annotation(mediatypes.REF_NAME_ANNOTATION)


def keys_for(spec: CacheSpec, all_keys: Sequence[str], final_keys: Sequence[str]) -> list[str]:
    """The record keys ``spec`` exports: every stage's (max) or the final stage's (min)."""
    return list(all_keys if spec.mode == "max" else final_keys)
