"""Pure functions over ``index.json``: tag names, lookup by name, digest or ID prefix.

A tag is an entry of the layout's index whose
``org.opencontainers.image.ref.name`` annotation holds the reference in
Docker's familiar form with its tag (``busybox:latest``,
``127.0.0.1:5000/repo:tag``).  One name points at one entry; tagging again
replaces the entry.  Image IDs, as ``docker images`` shows them, are config
digests; lookups accept them (whole or a unique hex prefix) as well as
manifest digests.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ocibuild._record import record, replace
from ocibuild.errors import UserError
from ocibuild.oci import Descriptor, Digest, Index, Reference, mediatypes

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "AmbiguousReferenceError",
    "Candidate",
    "find_by_name",
    "match_id",
    "ref_name",
    "with_tag",
    "without_tag",
]

_ID_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")


class AmbiguousReferenceError(UserError):
    """A short image ID matches more than one image."""


@record
class Candidate:
    """An image the store can name by ID: its manifest and config digests."""

    manifest: Descriptor
    config_digest: Digest | None


def ref_name(name: str) -> str:
    """The index.json name for ``name``: Docker's familiar form with a tag."""
    ref = Reference.parse(name)
    if ref.digest is not None:
        raise UserError(f"cannot use a digest reference as a tag: {name}")
    return ref.familiar()


def _entry_name(entry: Descriptor) -> str | None:
    return entry.annotation(mediatypes.REF_NAME_ANNOTATION)


def with_tag(index: Index, name: str, descriptor: Descriptor) -> Index:
    """``index`` with ``name`` (already a :func:`ref_name`) pointing at ``descriptor``."""
    annotations = dict(descriptor.annotations)
    annotations[mediatypes.REF_NAME_ANNOTATION] = name
    entry = descriptor.with_annotations(annotations)
    kept = tuple(m for m in index.manifests if _entry_name(m) != name)
    return replace(index, manifests=(*kept, entry))


def without_tag(index: Index, names: Iterable[str]) -> Index:
    """``index`` with every entry named one of ``names`` removed."""
    drop = set(names)
    return replace(index, manifests=tuple(m for m in index.manifests if _entry_name(m) not in drop))


def find_by_name(index: Index, name: str) -> Descriptor | None:
    """The entry called ``name`` as written, or after Docker's normalisation."""
    for entry in index.manifests:
        if _entry_name(entry) == name:
            return entry
    try:
        ref = Reference.parse(name)
    except UserError:
        return None
    if ref.digest is not None:
        return next((m for m in index.manifests if m.digest == ref.digest), None)
    wanted = ref.familiar()
    return next((m for m in index.manifests if _entry_name(m) == wanted), None)


def match_id(candidates: Iterable[Candidate], text: str) -> Descriptor | None:
    """The one image whose manifest or config digest is ``text`` or starts with it.

    ``text`` is ``sha256:<hex>`` or bare hex.  Raises
    :class:`AmbiguousReferenceError` when a prefix names several images.
    """
    match = _ID_PREFIX.fullmatch(text)
    if match is None:
        return None
    prefix = match.group(1)
    found: dict[Digest, Descriptor] = {}
    for cand in candidates:
        digests = [cand.manifest.digest, cand.config_digest]
        if any(d is not None and d.hex.startswith(prefix) for d in digests):
            found.setdefault(cand.manifest.digest, cand.manifest)
    if len(found) > 1:
        raise AmbiguousReferenceError(f"short image ID {text} is ambiguous")
    return next(iter(found.values()), None)
