"""Output specs: what ``-o/--output`` asks for, parsed as buildx does.

``type=oci,dest=img.tar``, ``type=docker,dest=-,name=app:1``,
``type=local,dest=out/``, ``type=image`` (the store only; every build writes
there anyway) and the short forms ``-o DIR`` (local) and ``-o -`` (a tar of
the rootfs on stdout, buildx's ``type=tar``).  ``type=registry`` is parsed but
refused by :func:`ocibuild.api.build` until pushing lands.
"""

from __future__ import annotations

from ocibuild._record import record
from ocibuild.errors import UserError

__all__ = ["OUTPUT_TYPES", "OutputError", "OutputSpec", "parse_output"]

OUTPUT_TYPES = frozenset({"oci", "docker", "local", "tar", "image", "registry"})
_KEYS = frozenset({"type", "dest", "name", "compression", "push"})
_NEEDS_DEST = frozenset({"oci", "docker", "local", "tar"})


class OutputError(UserError):
    """An ``--output`` spec is malformed or asks for something unsupported."""


@record
class OutputSpec:
    """One output: ``type``, ``dest`` (a path, or ``-`` for stdout), extra ``names``
    for the archive's index and an optional per-output ``compression``."""

    type: str
    dest: str | None = None
    names: tuple[str, ...] = ()
    compression: str | None = None


def parse_output(text: str) -> OutputSpec:
    """Parse one ``--output`` value; raises :class:`OutputError`."""
    if "=" not in text:
        if not text:
            raise OutputError("invalid --output '': expected type=TYPE[,dest=PATH] or a directory")
        return OutputSpec("tar" if text == "-" else "local", text)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep:
            raise OutputError(f"invalid --output {text!r}: {part!r} is not key=value")
        if key not in _KEYS:
            raise OutputError(f"invalid --output {text!r}: unknown key {key!r}")
        fields[key] = value
    kind = fields.get("type")
    if kind is None:
        raise OutputError(f"invalid --output {text!r}: type is required")
    if kind not in OUTPUT_TYPES:
        raise OutputError(
            f"invalid --output {text!r}: unknown type {kind!r} "
            f"(expected one of {', '.join(sorted(OUTPUT_TYPES))})"
        )
    dest = fields.get("dest") or None
    if kind in _NEEDS_DEST and dest is None:
        raise OutputError(f"invalid --output {text!r}: type={kind} needs dest=PATH (or dest=-)")
    if kind == "local" and dest == "-":
        raise OutputError(f"invalid --output {text!r}: type=local cannot write to stdout")
    compression = fields.get("compression")
    if compression not in (None, "gzip", "zstd", "none", "uncompressed"):
        raise OutputError(f"invalid --output {text!r}: unknown compression {compression!r}")
    names = tuple(n for n in fields.get("name", "").split(";") if n)
    if compression == "uncompressed":
        compression = "none"
    return OutputSpec(kind, dest, names, compression)
