"""Named build contexts: ``--build-context NAME=VALUE`` for FROM and COPY --from.

Values, as buildx accepts them (minus the ones that need a network):

* ``oci-layout://DIR[:TAG]``: an image in an OCI image layout; its blobs are
  copied into the store (digests verified) and the image read from there;
* ``docker-image://REF``: an image already in the store;
* a path to an OCI or docker-save archive: loaded into the store;
* a directory: a local context (only for COPY --from).

:func:`open_named` returns either a :class:`StoredImage` or a
:class:`BuildContext`; the caller decides which it may use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild.errors import ContextError
from ocibuild.executor.context import BuildContext
from ocibuild.oci import Descriptor, Digest, Index, mediatypes

if TYPE_CHECKING:
    from ocibuild.oci import Platform
    from ocibuild.store import Store, StoredImage

__all__ = ["open_named"]

_OCI_LAYOUT = "oci-layout://"
_DOCKER_IMAGE = "docker-image://"


def open_named(value: str, store: Store, platform: Platform | None) -> StoredImage | BuildContext:
    """Interpret one named-context value (see the module docstring)."""
    if value.startswith(_DOCKER_IMAGE):
        return store.image(value[len(_DOCKER_IMAGE) :], platform)
    if value.startswith(_OCI_LAYOUT):
        return _from_layout(value[len(_OCI_LAYOUT) :], store, platform)
    path = Path(value)
    if path.is_dir():
        return BuildContext.from_dir(path)
    if path.is_file():
        return _from_archive(path, store, platform)
    raise ContextError(f"build context {value!r}: no such file, directory or known scheme")


def _from_archive(path: Path, store: Store, platform: Platform | None) -> StoredImage:
    from ocibuild.export import load_archive

    with path.open("rb") as stream:
        names = load_archive(store, stream)
    if not names:
        raise ContextError(f"build context {str(path)!r}: the archive names no image")
    return store.image(names[0], platform)


def _from_layout(spec: str, store: Store, platform: Platform | None) -> StoredImage:
    directory, tag = _split_tag(spec)
    root = Path(directory)
    index = Index.from_json(_read(root, "index.json"))
    chosen = _choose(index.manifests, tag, spec)
    for digest in _reachable(root, chosen):
        _import_blob(root, digest, store)
    return store.image(chosen, platform)


def _split_tag(spec: str) -> tuple[str, str | None]:
    head, sep, tail = spec.rpartition(":")
    if sep and "/" not in tail and head:
        return head, tail
    return spec, None


def _choose(manifests: tuple[Descriptor, ...], tag: str | None, spec: str) -> Descriptor:
    if tag is None and len(manifests) == 1:
        return manifests[0]
    wanted = tag or "latest"
    for desc in manifests:
        ref = dict(desc.annotations).get(mediatypes.REF_NAME_ANNOTATION, "")
        if ref == wanted or ref.endswith(":" + wanted):
            return desc
    raise ContextError(f"oci-layout://{spec}: no image tagged {wanted!r}")


def _read(root: Path, name: str) -> bytes:
    try:
        return (root / name).read_bytes()
    except OSError as err:
        raise ContextError(f"oci-layout {root}: cannot read {name}: {err.strerror}") from None


def _blob_file(root: Path, digest: Digest) -> Path:
    return root / "blobs" / digest.algorithm / digest.hex


def _reachable(root: Path, top: Descriptor) -> list[Digest]:
    """Every blob under ``top`` (manifests, indexes, configs, layers), top first."""
    found: list[Digest] = []
    pending = [top]
    while pending:
        desc = pending.pop()
        found.append(desc.digest)
        if desc.media_type in (*mediatypes.INDEXES, *mediatypes.MANIFESTS):
            doc = json.loads(_blob_file(root, desc.digest).read_bytes())
            children = [doc["config"]] if "config" in doc else []
            children += doc.get("layers", []) + doc.get("manifests", [])
            pending.extend(Descriptor.from_json(c) for c in children)
    return found


def _import_blob(root: Path, digest: Digest, store: Store) -> None:
    if store.has_blob(digest):
        return
    path = _blob_file(root, digest)
    with path.open("rb") as src, store.writer("application/octet-stream") as writer:
        while chunk := src.read(1 << 20):
            writer.write(chunk)
        writer.commit(digest)
