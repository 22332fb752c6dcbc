"""Image manifests and indexes (OCI, and Docker schema 2 when read)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocibuild._record import record
from ocibuild.oci import mediatypes
from ocibuild.oci._json import InvalidDocumentError, canonical, load_object
from ocibuild.oci.descriptor import Annotations, Descriptor, annotations_of

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Index", "Manifest"]


def _descriptors(obj: Mapping[str, Any], key: str, what: str) -> tuple[Descriptor, ...]:
    items = obj.get(key)
    if items is None:
        items = []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidDocumentError(f"invalid {what}: {key} must be a list of descriptors")
    return tuple(Descriptor.from_json(i) for i in items)


def _check_version(obj: Mapping[str, Any], what: str) -> None:
    if obj.get("schemaVersion") != 2:
        raise InvalidDocumentError(f"invalid {what}: schemaVersion must be 2")


@record
class Manifest:
    """A single-platform image: one config and its ordered layers."""

    config: Descriptor
    layers: tuple[Descriptor, ...] = ()
    annotations: Annotations = ()
    media_type: str = mediatypes.OCI_MANIFEST
    subject: Descriptor | None = None
    artifact_type: str = ""

    def to_json(self) -> bytes:
        """Canonical bytes (``schemaVersion`` 2, ``mediaType`` set)."""
        obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        if self.subject is not None:
            obj["subject"] = self.subject.to_json()
        if self.artifact_type:
            obj["artifactType"] = self.artifact_type
        return canonical(obj)

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """Parse an OCI or Docker schema 2 manifest."""
        obj = load_object(data, "manifest")
        _check_version(obj, "manifest")
        config = obj.get("config")
        subject = obj.get("subject")
        if not isinstance(config, dict) or not isinstance(subject, dict | None):
            raise InvalidDocumentError("invalid manifest: config must be a descriptor")
        return cls(
            config=Descriptor.from_json(config),
            layers=_descriptors(obj, "layers", "manifest"),
            annotations=annotations_of(obj.get("annotations")),
            media_type=str(obj.get("mediaType") or mediatypes.OCI_MANIFEST),
            subject=Descriptor.from_json(subject) if subject else None,
            artifact_type=str(obj.get("artifactType") or ""),
        )


@record
class Index:
    """An image index (or Docker manifest list): descriptors of manifests."""

    manifests: tuple[Descriptor, ...] = ()
    annotations: Annotations = ()
    media_type: str = mediatypes.OCI_INDEX

    def to_json(self) -> bytes:
        """Canonical bytes (``schemaVersion`` 2, ``mediaType`` set)."""
        obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        return canonical(obj)

    @classmethod
    def from_json(cls, data: bytes | str) -> Index:
        """Parse an OCI index or Docker manifest list."""
        obj = load_object(data, "index")
        _check_version(obj, "index")
        return cls(
            manifests=_descriptors(obj, "manifests", "index"),
            annotations=annotations_of(obj.get("annotations")),
            media_type=str(obj.get("mediaType") or mediatypes.OCI_INDEX),
        )
