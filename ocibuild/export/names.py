"""Image names as archives carry them: normalised references, in order, once each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild.oci.reference import Reference

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["image_names"]


def image_names(names: Iterable[str]) -> list[Reference]:
    """Parse and normalise ``names`` (``app`` -> ``docker.io/library/app:latest``),
    dropping repeats; raises the reference module's user error on a bad name."""
    out: list[Reference] = []
    for name in names:
        ref = Reference.parse(name)
        if ref not in out:
            out.append(ref)
    return out
