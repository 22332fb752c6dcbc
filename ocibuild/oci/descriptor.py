"""Content descriptors: what a manifest or index says about a blob."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocibuild._record import record, replace
from ocibuild.oci._json import InvalidDocumentError
from ocibuild.oci.digest import Digest
from ocibuild.oci.platform import Platform

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Annotations", "Descriptor", "annotations_of"]

#: Annotations are kept as sorted ``(key, value)`` pairs so descriptors stay hashable.
Annotations = tuple[tuple[str, str], ...]


def annotations_of(mapping: Mapping[str, str] | None) -> Annotations:
    """Sorted pairs from a mapping (``None`` -> empty)."""
    return tuple(sorted((mapping or {}).items()))


@record
class Descriptor:
    """An OCI content descriptor (``mediaType``, ``digest``, ``size``, ...)."""

    media_type: str
    digest: Digest
    size: int
    annotations: Annotations = ()
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    def annotation(self, key: str) -> str | None:
        """The value of one annotation, or ``None``."""
        return dict(self.annotations).get(key)

    def with_annotations(self, mapping: Mapping[str, str]) -> Descriptor:
        """A copy whose annotations are ``mapping`` (replacing the old ones)."""
        return replace(self, annotations=annotations_of(mapping))

    def to_json(self) -> dict[str, Any]:
        """The descriptor as a JSON object (empty optional fields omitted)."""
        obj: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        if self.platform is not None:
            obj["platform"] = self.platform.to_json()
        if self.urls:
            obj["urls"] = list(self.urls)
        if self.artifact_type:
            obj["artifactType"] = self.artifact_type
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Descriptor:
        """Read a descriptor object; raises :class:`InvalidDocumentError` when malformed."""
        try:
            size = obj["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidDocumentError(f"invalid descriptor size: {size!r}")
            platform = obj.get("platform")
            return cls(
                media_type=str(obj["mediaType"]),
                digest=Digest.parse(str(obj["digest"])),
                size=size,
                annotations=annotations_of(obj.get("annotations")),
                platform=Platform.from_json(platform) if platform else None,
                urls=tuple(obj.get("urls") or ()),
                artifact_type=str(obj.get("artifactType") or ""),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise InvalidDocumentError(f"invalid descriptor: missing or bad {err}") from None
