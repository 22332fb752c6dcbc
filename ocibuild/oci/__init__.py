"""OCI data types: digests, descriptors, platforms, references, configs, manifests.

Pure data and its canonical JSON; no I/O.  Imports nothing from ocibuild but
``ocibuild.errors``.  ``schemas.validate`` (tests only) checks documents
against the image-spec JSON schemas in the repository's ``schemas/``.
"""

from __future__ import annotations

from ocibuild.oci import mediatypes
from ocibuild.oci._json import InvalidDocumentError, canonical
from ocibuild.oci.config import (
    ContainerConfig,
    Healthcheck,
    HistoryEntry,
    ImageConfig,
    format_timestamp,
)
from ocibuild.oci.descriptor import Annotations, Descriptor, annotations_of
from ocibuild.oci.digest import Digest, InvalidDigestError
from ocibuild.oci.manifest import Index, Manifest
from ocibuild.oci.platform import InvalidPlatformError, Platform
from ocibuild.oci.reference import InvalidReferenceError, Reference

__all__ = [
    "Annotations",
    "ContainerConfig",
    "Descriptor",
    "Digest",
    "Healthcheck",
    "HistoryEntry",
    "ImageConfig",
    "Index",
    "InvalidDigestError",
    "InvalidDocumentError",
    "InvalidPlatformError",
    "InvalidReferenceError",
    "Manifest",
    "Platform",
    "Reference",
    "annotations_of",
    "canonical",
    "format_timestamp",
    "mediatypes",
]
