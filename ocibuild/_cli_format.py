"""What the store commands print: ``docker images``' table and ``docker inspect``'s JSON.

Pure presentation over :class:`ocibuild.store.Store` reads: human sizes and
ages the way Docker's ``go-units`` writes them (``1.24MB``, ``3 days ago``),
tab-aligned columns, and the inspect object (Id, RepoTags, Created, Config,
Architecture, Os, Size, RootFS, ...).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from ocibuild._record import record
from ocibuild._units import human_duration, human_size
from ocibuild.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ocibuild.oci import Descriptor, Digest
    from ocibuild.store import Store, StoredImage

__all__ = [
    "IMAGE_HEADERS",
    "ImageRow",
    "human_duration",
    "human_size",
    "image_ids",
    "image_rows",
    "inspect_image",
    "json_text",
    "looks_like_id",
    "refs_to_untag",
    "table",
]

IMAGE_HEADERS = ("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")
_ID = re.compile(r"(sha256:)?[0-9a-f]{4,64}")


@record
class ImageRow:
    """One line of ``ocibuild images``."""

    repository: str
    tag: str
    image_id: str
    created: str
    size: str

    def cells(self) -> tuple[str, ...]:
        return (self.repository, self.tag, self.image_id, self.created, self.size)


def _age(created: str, now: dt.datetime) -> str:
    if not created:
        return "N/A"
    try:
        when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "N/A"
    return human_duration(max(0.0, (now - when).total_seconds())) + " ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell plus three spaces, as Docker's tabwriter."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    return "\n".join(lines)


def image_ids(store: Store) -> dict[Descriptor, Digest]:
    """Manifest descriptor -> config digest for every tagged image."""
    return {desc: store.image(desc).config_desc.digest for _name, desc in store.refs()}


def image_rows(store: Store, now: dt.datetime | None = None) -> list[ImageRow]:
    """Every tag, newest image first (then by name)."""
    from ocibuild.oci import Reference

    now = now or dt.datetime.now(dt.UTC)
    rows: list[tuple[str, ImageRow]] = []
    for name, desc in store.refs():
        image = store.image(desc)
        ref = Reference.parse(name)
        row = ImageRow(
            ref.familiar_name,
            ref.tag or "<none>",
            image.config_desc.digest.short,
            _age(image.config.created, now),
            human_size(_size(image)),
        )
        rows.append((image.config.created, row))
    rows.sort(key=lambda pair: pair[1].repository + ":" + pair[1].tag)
    rows.sort(key=lambda pair: pair[0], reverse=True)
    return [row for _created, row in rows]


def _size(image: StoredImage) -> int:
    return sum(layer.size for layer in image.manifest.layers)


def looks_like_id(name: str) -> bool:
    """Whether ``name`` is written as an image ID (hex, maybe ``sha256:``)."""
    return _ID.fullmatch(name) is not None and (name.startswith("sha256:") or len(name) >= 12)


def refs_to_untag(store: Store, name: str, target: Descriptor, *, force: bool) -> list[str]:
    """The tags ``rmi NAME`` removes: NAME itself, or every tag of an image given by ID."""
    if not looks_like_id(name):
        return [name]
    tags = [n for n, d in store.refs() if d.digest == target.digest]
    if len(tags) > 1 and not force:
        raise UserError(
            f"conflict: unable to delete {name} (must be forced) - "
            "image is referenced in multiple repositories"
        )
    return tags


def inspect_image(store: Store, manifest: Descriptor) -> dict[str, Any]:
    """``docker image inspect``'s object for one image (the fields ocibuild knows)."""
    image = store.image(manifest)
    config = image.config
    comments = [h.comment for h in config.history if h.comment]
    out: dict[str, Any] = {
        "Id": str(image.config_desc.digest),
        "RepoTags": [n for n, d in store.refs() if d.digest == manifest.digest],
        "RepoDigests": [],
        "Parent": "",
        "Comment": comments[-1] if comments else "",
        "Created": config.created,
        "Author": config.author,
        "Config": config.config.to_json(),
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": _size(image),
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in config.diff_ids]},
        "Descriptor": {
            "mediaType": image.manifest_desc.media_type,
            "digest": str(image.manifest_desc.digest),
            "size": image.manifest_desc.size,
        },
    }
    if config.variant:
        out["Variant"] = config.variant
    return out


def json_text(value: object) -> str:
    """JSON as ``docker inspect`` prints it (4-space indent)."""
    return json.dumps(value, indent=4)
