"""Platforms (``os/arch/variant``) with containerd's normalisation rules."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from ocibuild._record import record, replace
from ocibuild.errors import UserError

__all__ = ["InvalidPlatformError", "Platform"]

_COMPONENT = re.compile(r"[A-Za-z0-9_-]+")
_KNOWN_OS = frozenset(
    {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux"}
    | {"netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
)


class InvalidPlatformError(UserError):
    """A platform string such as ``linux/arm64/v8`` could not be parsed."""


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's ``normalizeArch``: one spelling per architecture."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
    return arch, variant


@record
class Platform:
    """An image platform; build with :meth:`parse` or :meth:`normalized`.

    ``architecture`` and ``variant`` are kept as given by the constructor;
    :meth:`parse`, :meth:`host` and :meth:`normalized` return canonical
    spellings (``arm64`` with no variant for ``aarch64``/``arm64/v8``,
    ``amd64`` for ``x86_64``, ``arm/v7`` for ``armhf``).
    """

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os[/arch[/variant]]`` (or a lone architecture) like containerd."""
        parts = text.strip().split("/")
        if not all(_COMPONENT.fullmatch(p) for p in parts) or len(parts) > 3:
            raise InvalidPlatformError(f"invalid platform: {text!r}")
        if len(parts) == 1:
            host = cls.host()
            if parts[0].lower() in _KNOWN_OS:
                return cls(parts[0], host.architecture, host.variant).normalized()
            return cls("linux", parts[0]).normalized()
        variant = parts[2] if len(parts) == 3 else ""
        return cls(parts[0], parts[1], variant).normalized()

    @classmethod
    def host(cls) -> Platform:
        """The platform this process runs on."""
        machine = os.uname().machine.lower()  # platform.machine(), without importing it
        os_name = "linux" if sys.platform.startswith("linux") else sys.platform
        match = re.fullmatch(r"armv(\d+)\w*", machine)
        if match:
            return cls(os_name, "arm", "v" + match.group(1)).normalized()
        return cls(os_name, machine).normalized()

    def normalized(self) -> Platform:
        """This platform with containerd's canonical spellings."""
        os_name = self.os.lower()
        if os_name == "macos":
            os_name = "darwin"
        arch, variant = _normalize_arch(self.architecture, self.variant)
        return replace(self, os=os_name, architecture=arch, variant=variant)

    def matches(self, other: Platform) -> bool:
        """Whether both name the same platform once normalised (os.version ignored)."""
        mine, theirs = self.normalized(), other.normalized()
        return (mine.os, mine.architecture, mine.variant) == (
            theirs.os,
            theirs.architecture,
            theirs.variant,
        )

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def to_json(self) -> dict[str, Any]:
        """The ``platform`` object of an OCI descriptor."""
        obj: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            obj["variant"] = self.variant
        if self.os_version:
            obj["os.version"] = self.os_version
        if self.os_features:
            obj["os.features"] = list(self.os_features)
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Platform:
        """Read a descriptor's ``platform`` object (kept as written, not normalised)."""
        try:
            return cls(
                os=str(obj["os"]),
                architecture=str(obj["architecture"]),
                variant=str(obj.get("variant") or ""),
                os_version=str(obj.get("os.version") or ""),
                os_features=tuple(str(f) for f in obj.get("os.features") or ()),
            )
        except (KeyError, TypeError) as err:
            raise InvalidPlatformError(f"invalid platform object: {err}") from None
