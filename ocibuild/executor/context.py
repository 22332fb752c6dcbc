"""The build context: a directory (or a tar on stdin) with .dockerignore applied.

:class:`BuildContext` is a :class:`~ocibuild.executor.sources.SourceTree` over
the context directory.  Excluded paths look absent (``lstat`` raises
``FileNotFoundError``, ``listdir`` leaves them out), so a COPY of an excluded
file fails like a missing one, as in BuildKit.  Every path is resolved inside
the root: ``..`` stops at the root and absolute symlink targets restart at it,
so nothing outside the context is ever read.  A context given as a tar is
unpacked with the layer extractor (no ``..``, no absolute names, no writing
through symlinks) into a temp dir owned by the caller's ``ExitStack``.
"""

from __future__ import annotations

import os
import stat
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import field, record
from ocibuild.dockerfile.ignore import IgnoreRules
from ocibuild.errors import ContextError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["BuildContext", "resolve_in_root"]

_MAX_LINKS = 255


def resolve_in_root(root: Path, path: str, follow_last: bool = True) -> str:
    """``path`` with symlinks under ``root`` resolved without leaving it."""
    pending = [p for p in path.split("/") if p]
    pending.reverse()
    done: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        real = root.joinpath(*done, part)
        if (pending or follow_last) and real.is_symlink():
            hops += 1
            if hops > _MAX_LINKS:
                raise ContextError(f"too many levels of symbolic links: {path}")
            target = str(real.readlink())
            if target.startswith("/"):
                done = []
            pending.extend(reversed([p for p in target.split("/") if p]))
            continue
        done.append(part)
    return "/" + "/".join(done)


@record
class BuildContext:
    """A context directory and the .dockerignore rules that filter it.

    Usable as a context manager: leaving it removes a temp dir that
    :meth:`from_tar` made without a caller's ``stack``.
    """

    root: Path
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    owned: ExitStack = field(default_factory=ExitStack, compare=False, repr=False)

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Remove what this context owns (the unpacked tar, if any)."""
        self.owned.close()

    @classmethod
    def from_dir(cls, path: Path, ignore: IgnoreRules | None = None) -> BuildContext:
        """A context over directory ``path``; ``ignore`` defaults to its .dockerignore."""
        root = Path(path).resolve()
        if not root.is_dir():
            raise ContextError(f"unable to prepare context: path {str(path)!r} not found")
        return cls(root, IgnoreRules.for_dockerfile(root) if ignore is None else ignore)

    @classmethod
    def from_tar(
        cls,
        stream: BinaryIO,
        stack: ExitStack | None = None,
        *,
        dockerfile: str | None = None,
    ) -> BuildContext:
        """Unpack a context tar into a temp dir removed when ``stack`` closes.

        Without ``stack`` the context owns the temp dir: use it in ``with``.
        """
        import tempfile

        from ocibuild.layer.extract import apply_layer

        owned = ExitStack()
        holder = stack if stack is not None else owned
        tmp = Path(holder.enter_context(tempfile.TemporaryDirectory(prefix="ocibuild-ctx-")))
        try:
            apply_layer(stream, tmp)
        except BaseException:
            owned.close()
            raise
        named = tmp / dockerfile if dockerfile else None
        return cls(tmp, IgnoreRules.for_dockerfile(tmp, named), owned)

    def _host(self, path: str) -> str:
        """The host path of context path ``path`` (as text: the COPY checksum
        of a many-file source asks for thousands, and a ``Path`` each cost
        more than the ``lstat``)."""
        rel = path.strip("/")
        if rel and self.ignore.excluded(rel):
            raise FileNotFoundError(f"{path} is excluded by .dockerignore")
        root = str(self.root)
        return f"{root.rstrip('/')}/{rel}" if rel else root

    def _real(self, path: str) -> Path:
        return Path(self._host(path))

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(self._host(path))

    def listdir(self, path: str) -> list[str]:
        base = path.strip("/")
        names = sorted(os.listdir(self._host(path)))  # noqa: PTH208 (names only: no Path each)
        return [n for n in names if not self.ignore.excluded(f"{base}/{n}".lstrip("/"))]

    def open(self, path: str) -> BinaryIO:
        real = self._real(path)
        if not stat.S_ISREG(real.lstat().st_mode):
            raise ContextError(f"{path} is not a regular file")
        return real.open("rb")

    def readlink(self, path: str) -> str:
        return str(self._real(path).readlink())

    def resolve(self, path: str, follow_last: bool = True) -> str:
        return resolve_in_root(self.root, path, follow_last)
