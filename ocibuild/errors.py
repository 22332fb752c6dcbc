"""The error tree of ocibuild.

::

    OcibuildError
      UserError          one line, exit 1: the user can fix it
        DockerfileError  Dockerfile:12: unknown instruction: FORM
        ContextError     COPY source missing or excluded by .dockerignore
        StepFailed       RUN exited with code 2 (+ output tail)
        RegistryError    auth, unknown manifest (never secrets)
      StoreError         corrupt or locked store
        DigestMismatch   content does not hash to its name
        NoSpaceError     the disk under the store is full (ENOSPC, EDQUOT)

Anything else is a bug and keeps its traceback.  Errors are raised where the
fact is known; the location is added at the boundary with :func:`at`.  The
library never prints or exits: ``cli.py`` maps these to text and exit codes.
Code that writes into the store wraps the writing in :func:`out_of_space`,
which turns a full disk into :class:`NoSpaceError` saying what was written.
"""

from __future__ import annotations

import contextlib
import errno
from typing import TYPE_CHECKING

from ocibuild._record import record

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ContextError",
    "DigestMismatch",
    "DockerfileError",
    "NoSpaceError",
    "OcibuildError",
    "RegistryError",
    "SourceSpan",
    "StepFailed",
    "StoreError",
    "UserError",
    "at",
    "is_out_of_space",
    "out_of_space",
]


@record
class SourceSpan:
    """Where an instruction stands in its Dockerfile (1-based, inclusive)."""

    path: str
    first_line: int
    last_line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.first_line}"


class OcibuildError(Exception):
    """Base of every error ocibuild raises on purpose."""


class UserError(OcibuildError):
    """Something the user can fix; shown as one line, exit status 1."""

    def __init__(self, message: str, span: SourceSpan | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span

    def __str__(self) -> str:
        first = self.message.splitlines()[0] if self.message else ""
        return f"{self.span}: {first}" if self.span is not None else first

    def detail(self) -> str:
        """Extra lines (such as a command's output tail) shown after the message."""
        lines = self.message.splitlines()
        return "\n".join(lines[1:])


class DockerfileError(UserError):
    """The Dockerfile is malformed or asks for something impossible."""


class ContextError(UserError):
    """A source is missing from the build context or excluded from it."""


class StepFailed(UserError):
    """A build step (usually RUN) failed; ``output_tail`` holds its last lines."""

    def __init__(self, message: str, span: SourceSpan | None = None, output_tail: str = "") -> None:
        super().__init__(message, span)
        self.output_tail = output_tail

    def detail(self) -> str:
        return self.output_tail


class RegistryError(UserError):
    """A registry refused or failed a request (never carries credentials)."""


class StoreError(OcibuildError):
    """The local store is corrupt, locked or full."""


class DigestMismatch(StoreError):
    """Content does not hash to the digest that names it."""


class NoSpaceError(StoreError):
    """The file system holding the store is full (or the user's quota is)."""


def is_out_of_space(err: BaseException) -> bool:
    """Whether ``err`` is a full disk or an exhausted quota."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def out_of_space(what: str) -> Iterator[None]:
    """Raise :class:`NoSpaceError` ("no space left on device while ``what``")
    for a full disk inside the block; other errors pass unchanged."""
    try:
        yield
    except OSError as err:
        if not is_out_of_space(err):
            raise
        raise NoSpaceError(f"no space left on device while {what}") from None


@contextlib.contextmanager
def at(span: SourceSpan | None) -> Iterator[None]:
    """Attach ``span`` to any :class:`UserError` raised inside that lacks one."""
    try:
        yield
    except UserError as err:
        if err.span is None and span is not None:
            err.span = span
        raise
