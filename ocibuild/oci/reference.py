"""Image references with Docker's normalisation (``distribution/reference``).

``busybox`` means ``docker.io/library/busybox:latest``; ``localhost:5000/x/y:t``
keeps its registry; ``name@sha256:...`` pins a digest.  :meth:`Reference.familiar`
gives the short form ``docker images`` shows (``busybox:latest``).
"""

from __future__ import annotations

import re

from ocibuild._record import record
from ocibuild.errors import UserError
from ocibuild.oci.digest import Digest, InvalidDigestError

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "InvalidReferenceError", "Reference"]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_MAX_NAME = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?")
_ID = re.compile(r"[a-f0-9]{64}")


class InvalidReferenceError(UserError):
    """A string is not a valid image reference."""


def _split_domain(text: str) -> tuple[str, str]:
    """Docker's ``splitDockerDomain``: registry and the rest (library/ added)."""
    first, slash, rest = text.partition("/")
    is_domain = any(c in first for c in ".:") or first == "localhost" or first.lower() != first
    if not slash or not is_domain:
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder


@record
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str, *, default_tag: str = DEFAULT_TAG) -> Reference:
        """Normalise ``text``; ``default_tag`` is added when neither tag nor digest is given."""
        if _ID.fullmatch(text):
            raise InvalidReferenceError(
                f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
            )
        domain, remainder = _split_domain(text)
        repo = remainder.partition(":")[0]
        if repo.lower() != repo:
            raise InvalidReferenceError(
                f"invalid reference format: repository name ({repo}) must be lowercase"
            )
        match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
        if match is None:
            raise InvalidReferenceError(f"invalid reference format: {text!r}")
        name = match.group("name")
        if len(name) > _MAX_NAME:
            raise InvalidReferenceError(
                f"repository name must not be more than {_MAX_NAME} characters"
            )
        digest = None
        if match.group("digest"):
            try:
                digest = Digest.parse(match.group("digest"))
            except InvalidDigestError as err:
                raise InvalidReferenceError(f"invalid reference format: {err}") from None
        tag = match.group("tag") or ("" if digest else default_tag)
        return cls(domain, name[len(domain) + 1 :], tag, digest)

    @property
    def name(self) -> str:
        """The full repository name without tag or digest (``docker.io/library/busybox``)."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker shows it (``busybox``, ``localhost:5000/x``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        short = self.path.removeprefix(_OFFICIAL_PREFIX)
        return self.path if "/" in short else short

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return tag + (f"@{self.digest}" if self.digest else "")

    def familiar(self) -> str:
        """Docker's familiar string with tag and digest: ``busybox:latest``."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """The same repository with ``tag`` and no digest."""
        return Reference(self.domain, self.path, tag, None)

    def __str__(self) -> str:
        return self.name + self._suffix()
