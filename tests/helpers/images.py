"""Read an image's config and layer blobs from a docker-save archive or an
OCI image layout (a directory or a tar of one).

Owns only reading: which manifest to pick, and undoing layer compression.
What the layers mean is `rootfs.py`'s job; which config fields matter is
`configs.py`'s.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zstandard

if TYPE_CHECKING:
    from pathlib import Path

INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
REF_NAME = "org.opencontainers.image.ref.name"


class ImageNotFoundError(LookupError):
    """The archive or layout has no image under the requested name."""


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An image's parsed config and its layers as uncompressed tar bytes."""

    config: dict[str, Any]
    layers: tuple[bytes, ...]


def decompress(blob: bytes) -> bytes:
    """Undo gzip or zstd compression (detected by magic); tar passes through."""
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(blob), read_across_frames=True
        )
        return reader.read()
    return blob


class _Source:
    """Named files from a directory or from a tar archive."""

    def __init__(self, path: Path) -> None:
        self._dir = path if path.is_dir() else None
        self._files: dict[str, bytes] = {}
        if self._dir is None:
            with tarfile.open(path) as tar:
                for member in tar:
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        self._files[_clean(member.name)] = handle.read()

    def has(self, name: str) -> bool:
        if self._dir is not None:
            return (self._dir / name).is_file()
        return _clean(name) in self._files

    def read(self, name: str) -> bytes:
        if self._dir is not None:
            return (self._dir / name).read_bytes()
        try:
            return self._files[_clean(name)]
        except KeyError:
            raise FileNotFoundError(name) from None


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def load_image(path: Path, name: str | None = None) -> LoadedImage:
    """Load one image from a docker-save archive or an OCI layout.

    A docker-save archive (it has ``manifest.json``) is read through that
    file, whatever format its blobs have; anything else must be an OCI
    layout.  ``name`` picks the image (a RepoTag, or an OCI ref name, with
    or without ``:latest``); None means the only or first image.
    """
    source = _Source(path)
    if source.has("manifest.json"):
        return _load_docker_save(source, name)
    if source.has("index.json"):
        return _load_oci_layout(source, name)
    raise ImageNotFoundError(f"{path}: neither manifest.json nor index.json")


def _names(name: str) -> set[str]:
    """The spellings a name may be stored under."""
    bare = name.removesuffix(":latest")
    return {name, bare, f"{bare}:latest", f"docker.io/library/{bare}:latest"}


def _load_docker_save(source: _Source, name: str | None) -> LoadedImage:
    entries: list[dict[str, Any]] = json.loads(source.read("manifest.json"))
    if name is not None:
        wanted = _names(name)
        entries = [e for e in entries if wanted & set(e.get("RepoTags") or ())]
    if not entries:
        raise ImageNotFoundError(f"no image {name!r} in docker archive")
    entry = entries[0]
    config = json.loads(source.read(entry["Config"]))
    layers = tuple(decompress(source.read(layer)) for layer in entry["Layers"])
    return LoadedImage(config, layers)


def _blob(source: _Source, digest: str) -> bytes:
    algorithm, _, hexpart = digest.partition(":")
    return source.read(f"blobs/{algorithm}/{hexpart}")


def _pick_manifest(source: _Source, index: dict[str, Any], name: str | None) -> dict[str, Any]:
    descriptors: list[dict[str, Any]] = index.get("manifests") or []
    if name is not None:
        wanted = _names(name)
        descriptors = [
            d for d in descriptors if (d.get("annotations") or {}).get(REF_NAME) in wanted
        ]
    if not descriptors:
        raise ImageNotFoundError(f"no image {name!r} in OCI layout")
    chosen = descriptors[0]
    for candidate in descriptors:
        platform = candidate.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            chosen = candidate
            break
    document: dict[str, Any] = json.loads(_blob(source, chosen["digest"]))
    if chosen.get("mediaType") in INDEX_MEDIA_TYPES or "manifests" in document:
        return _pick_manifest(source, document, None)
    return document


def _load_oci_layout(source: _Source, name: str | None) -> LoadedImage:
    index = json.loads(source.read("index.json"))
    manifest = _pick_manifest(source, index, name)
    config = json.loads(_blob(source, manifest["config"]["digest"]))
    layers = tuple(decompress(_blob(source, layer["digest"])) for layer in manifest["layers"])
    return LoadedImage(config, layers)
