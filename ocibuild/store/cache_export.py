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
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, cast

from ocibuild.errors import StoreError, UserError
from ocibuild.oci import Descriptor, Digest, Index, Manifest, canonical, mediatypes
from ocibuild.store._fs import FILE_MODE, fsync_dir, write_atomic
from ocibuild.store.blobs import blob_file, open_verified
from ocibuild.store.cache import CacheRecord

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from ocibuild.store import Store

__all__ = [
    "CACHE_MEDIA_TYPE",
    "CACHE_TAG",
    "CacheImportError",
    "CacheSpec",
    "CacheSpecError",
    "check_supported",
    "export_cache",
    "import_cache",
    "keys_for",
    "parse_cache_spec",
]

CACHE_MEDIA_TYPE = "application/vnd.ocibuild.cache.v1+json"
CACHE_TAG = "ocibuild-cache"
_CHUNK = 1 << 20


class CacheSpecError(UserError):
    """A malformed or unsupported ``--cache-to`` / ``--cache-from`` value."""


class CacheImportError(UserError):
    """A ``--cache-from`` directory is missing, malformed or holds a corrupt blob."""


@dataclass(frozen=True, slots=True)
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
        return CacheSpec("registry", ref=fields.get("ref"), mode=mode_)
    if kind != "local":
        raise CacheSpecError(f"invalid {flag} {text!r}: type must be local or registry")
    path = fields.pop("dest" if direction == "to" else "src", None)
    if not path:
        need = "dest" if direction == "to" else "src"
        raise CacheSpecError(f"invalid {flag} {text!r}: {need}=DIR is required for type=local")
    return CacheSpec("local", path=path, mode=mode_)


def check_supported(spec: CacheSpec) -> None:
    """Refuse what cannot be done yet (before a build starts)."""
    if spec.type == "registry":
        raise CacheSpecError("cache type registry needs the registry client (not yet)")


# -- export ------------------------------------------------------------------------


def export_cache(store: Store, keys: Iterable[str], dest: str | os.PathLike[str]) -> int:
    """Write the records of ``keys`` (those still in the db) and their layers to ``dest``."""
    out = Path(dest)
    blobs = out / "blobs"
    (blobs / "sha256").mkdir(parents=True, exist_ok=True)
    records = sorted(store.cache.find(dict.fromkeys(keys)), key=lambda r: r.key)
    layers = sorted({r.layer for r in records if r.layer is not None}, key=lambda d: str(d.digest))
    for layer in layers:
        _copy_out(store, layer, blobs, out)
    body = canonical({"records": [_record_json(r) for r in records]})
    config = _put_bytes(blobs, out, body, CACHE_MEDIA_TYPE)
    manifest = _put_bytes(
        blobs, out, Manifest(config, tuple(layers)).to_json(), mediatypes.OCI_MANIFEST
    )
    _write_index(out, manifest.with_annotations({mediatypes.REF_NAME_ANNOTATION: CACHE_TAG}))
    return len(records)


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


def import_cache(store: Store, src: str | os.PathLike[str]) -> int:
    """Copy the records of the cache at ``src`` (and their layers) into ``store``."""
    root = Path(src)
    blobs = root / "blobs"
    manifest = Manifest.from_json(_read_small(blobs, _cache_entry(root)))
    if manifest.config.media_type != CACHE_MEDIA_TYPE:
        raise CacheImportError(f"{root}: {CACHE_TAG} is not an ocibuild cache")
    records = _parse_records(_read_small(blobs, manifest.config), root)
    layers = {d.digest: d for d in manifest.layers}
    needed = [layers[r.layer_digest] for r in records if r.layer_digest in layers]
    if len(needed) != sum(1 for r in records if r.layer_digest is not None):
        raise CacheImportError(f"{root}: a cache record names a layer the manifest lacks")
    missing = list({d.digest: d for d in needed if not store.has_blob(d)}.values())
    for layer in missing:
        _verify(blobs, layer)
    root_name = f"cache-import-{os.getpid()}"
    store.set_root(root_name, missing)
    try:
        for layer in missing:
            _copy_in(store, blobs, layer)
        store.cache.put_many(records)
    finally:
        store.remove_root(root_name)
    return len(records)


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


def _parse_records(data: bytes, root: Path) -> list[CacheRecord]:
    try:
        return [_record_from(obj) for obj in json.loads(data)["records"]]
    except (ValueError, KeyError, TypeError, UserError) as err:
        raise CacheImportError(f"{root}: malformed cache records: {err}") from None


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
