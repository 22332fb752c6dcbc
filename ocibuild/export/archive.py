"""Image archives out of the store: OCI image layout tarballs and docker-save tarballs.

Both are an OCI image layout in a tar (``oci-layout``, ``index.json``,
``blobs/sha256/...``).  The docker flavour adds Docker's ``manifest.json``
(``[{Config, RepoTags, Layers}]`` pointing into ``blobs/sha256/``), which is
what Docker 25 writes, so old and new ``docker load`` both accept it.

Layers in the store are uncompressed.  The OCI flavour compresses them on the
way out (``compression``; the compressed copy is kept in the store and reused
next time, see :mod:`ocibuild.export.compressed`) and rewrites the manifest
with the compressed layer descriptors; the config is unchanged, so the image
ID is the same.  Layers
that are already compressed (from a pulled base) are copied as they are.  The
docker flavour copies layers as stored.  Entries are sorted and headers fixed,
so the same image gives the same bytes.  The compression itself is
:mod:`ocibuild.layer`'s; this module only arranges the blobs.
"""

from __future__ import annotations

import contextlib
from typing import IO, TYPE_CHECKING, BinaryIO

from ocibuild._record import record, replace
from ocibuild.export._tar import Destination, TarSink, atomic_output
from ocibuild.export.names import image_names
from ocibuild.oci import mediatypes
from ocibuild.oci._json import canonical
from ocibuild.oci.descriptor import Descriptor, annotations_of
from ocibuild.oci.digest import Digest

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ocibuild.store import Store, StoredImage

__all__ = [
    "ArchiveImage",
    "ExportBlob",
    "collect_blobs",
    "write_archive",
    "write_docker_archive",
    "write_oci_archive",
]

CONTAINERD_NAME = "io.containerd.image.name"
_UNCOMPRESSED = frozenset({mediatypes.OCI_LAYER, mediatypes.OCI_LAYER_NONDIST})


@record
class ArchiveImage:
    """One image to put in an archive and the names (``name:tag``) to give it."""

    image: StoredImage
    names: tuple[str, ...] = ()


@record
class ExportBlob:
    """A blob to write (or push): its descriptor and where its bytes come from."""

    descriptor: Descriptor
    data: bytes | None = None  # small documents held in memory
    spool: IO[bytes] | None = None  # an open compressed layer (seekable)


def write_oci_archive(
    store: Store,
    image: StoredImage,
    dest: Destination,
    *,
    names: Sequence[str] = (),
    compression: str = "gzip",
) -> Descriptor:
    """Write ``image`` as an OCI layout tarball to ``dest``; return the manifest descriptor
    the archive's index points at (different from the store's when layers were compressed)."""
    [desc] = write_archive(
        store, [ArchiveImage(image, tuple(names))], dest, docker=False, compression=compression
    )
    return desc


def write_docker_archive(
    store: Store, image: StoredImage, dest: Destination, *, names: Sequence[str] = ()
) -> Descriptor:
    """Write ``image`` as a docker-save tarball (Docker 25 layout + ``manifest.json``)."""
    [desc] = write_archive(
        store, [ArchiveImage(image, tuple(names))], dest, docker=True, compression="none"
    )
    return desc


def write_archive(
    store: Store,
    images: Sequence[ArchiveImage],
    dest: Destination,
    *,
    docker: bool,
    compression: str = "none",
) -> list[Descriptor]:
    """Write several images into one archive; returns their manifest descriptors."""
    with contextlib.ExitStack() as stack:
        blobs: dict[Digest, ExportBlob] = {}
        index: list[dict[str, object]] = []
        docker_manifest: list[dict[str, object]] = []
        result: list[Descriptor] = []
        for item in images:
            manifest = collect_blobs(store, item.image, compression, blobs, stack)
            result.append(manifest)
            index.extend(_index_entries(manifest, item.names))
            if docker:
                docker_manifest.append(_docker_entry(item))
        docs = {
            "oci-layout": canonical({"imageLayoutVersion": mediatypes.OCI_LAYOUT_VERSION}),
            "index.json": canonical(
                {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": index}
            ),
        }
        if docker:
            docs["manifest.json"] = canonical(docker_manifest)
        with atomic_output(dest) as out:
            _write_tar(store, out, blobs, docs)
        return result


def collect_blobs(
    store: Store,
    image: StoredImage,
    compression: str,
    blobs: dict[Digest, ExportBlob],
    stack: contextlib.ExitStack,
) -> Descriptor:
    """Add the image's blobs to ``blobs``; return its (maybe rewritten) manifest descriptor.

    Shared with :mod:`ocibuild.registry.push`, so an OCI export and a push
    compress alike and give the same manifest digest.
    """
    blobs.setdefault(image.config_desc.digest, ExportBlob(image.config_desc))
    layers: list[Descriptor] = []
    for layer in image.manifest.layers:
        if compression == "none" or layer.media_type not in _UNCOMPRESSED:
            blobs.setdefault(layer.digest, ExportBlob(layer))
            layers.append(layer)
            continue
        packed = _compressed(store, layer, compression, blobs, stack)
        layers.append(packed)
    if layers == list(image.manifest.layers):
        blobs.setdefault(image.manifest_desc.digest, ExportBlob(image.manifest_desc))
        return _plain(image.manifest_desc)
    data = replace(image.manifest, layers=tuple(layers)).to_json()
    desc = Descriptor(mediatypes.OCI_MANIFEST, Digest.from_bytes(data), len(data))
    blobs.setdefault(desc.digest, ExportBlob(desc, data=data))
    return desc


def _plain(desc: Descriptor) -> Descriptor:
    return Descriptor(desc.media_type, desc.digest, desc.size, platform=desc.platform)


def _compressed(
    store: Store,
    layer: Descriptor,
    compression: str,
    blobs: dict[Digest, ExportBlob],
    stack: contextlib.ExitStack,
) -> Descriptor:
    """The compressed copy of a stored layer (cached in the store), added to ``blobs``."""
    from ocibuild.export.compressed import open_compressed
    from ocibuild.layer.compress import Compression

    packed, reader = open_compressed(store, layer, Compression[compression.upper()])
    stack.enter_context(reader)
    blobs.setdefault(packed.digest, ExportBlob(packed, spool=reader))
    return packed


def _index_entries(manifest: Descriptor, names: Sequence[str]) -> Iterator[dict[str, object]]:
    if not names:
        yield manifest.to_json()
        return
    for ref in image_names(names):
        annotations = {mediatypes.REF_NAME_ANNOTATION: ref.familiar(), CONTAINERD_NAME: str(ref)}
        yield replace(manifest, annotations=annotations_of(annotations)).to_json()


def _docker_entry(item: ArchiveImage) -> dict[str, object]:
    return {
        "Config": _blob_path(item.image.config_desc.digest),
        "RepoTags": [ref.familiar() for ref in image_names(item.names)],
        "Layers": [_blob_path(layer.digest) for layer in item.image.manifest.layers],
    }


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _write_tar(
    store: Store, out: BinaryIO, blobs: dict[Digest, ExportBlob], docs: dict[str, bytes]
) -> None:
    with TarSink(out) as tar:
        for digest in sorted(blobs):
            blob = blobs[digest]
            name = _blob_path(digest)
            if blob.data is not None:
                tar.add_bytes(name, blob.data)
            elif blob.spool is not None:
                tar.add_stream(name, blob.spool, blob.descriptor.size)
            else:
                with store.open_blob(digest) as src:
                    tar.add_stream(name, src, blob.descriptor.size)
        for name in sorted(docs):
            tar.add_bytes(name, docs[name])
