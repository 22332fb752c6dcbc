"""Content digests: ``algorithm:hex`` names of blobs (sha256 and sha512)."""

from __future__ import annotations

import hashlib
import re

from ocibuild._record import record
from ocibuild.errors import UserError

__all__ = ["ALGORITHMS", "Digest", "InvalidDigestError"]

#: Supported algorithms and the length of their hex encoding.
ALGORITHMS = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")


class InvalidDigestError(UserError):
    """A string is not a digest ocibuild can verify."""


@record(order=True)
class Digest:
    """A verified-format digest such as ``sha256:e3b0...``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        length = ALGORITHMS.get(self.algorithm)
        if length is None:
            raise InvalidDigestError(f"unsupported digest algorithm: {self.algorithm!r}")
        if len(self.hex) != length or not _HEX.fullmatch(self.hex):
            raise InvalidDigestError(f"invalid {self.algorithm} digest: {self.hex!r}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algorithm:hex``; raises :class:`InvalidDigestError`."""
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise InvalidDigestError(f"invalid digest: {text!r}")
        return cls(algorithm, hexpart)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        if algorithm not in ALGORITHMS:
            raise InvalidDigestError(f"unsupported digest algorithm: {algorithm!r}")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    @property
    def short(self) -> str:
        """The first 12 hex digits, as ``docker images`` shows IDs."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"
