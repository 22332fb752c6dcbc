"""Writing and reading content-addressed blobs, verified on the way in and out.

A :class:`BlobWriter` streams into a temp file under ``ocibuild/tmp/`` while
hashing, and on :meth:`~BlobWriter.commit` fsyncs and renames it to
``blobs/<alg>/<hex>``; a blob file therefore either exists complete or not at
all.  Writers hold an flock on their temp file so ``gc`` can tell live temp
files from ones left by a dead process.  :func:`open_verified` returns a reader
that raises :class:`~ocibuild.errors.DigestMismatch` at end of file when the
content does not hash to its name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from ocibuild.errors import DigestMismatch, NoSpaceError, is_out_of_space, out_of_space
from ocibuild.oci import Descriptor, Digest
from ocibuild.store._fs import FILE_MODE, fsync_dir, make_temp

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["BlobWriter", "blob_file", "open_verified"]


def blob_file(blobs_dir: Path, digest: Digest) -> Path:
    """Where the blob named ``digest`` lives in an OCI layout."""
    return blobs_dir / digest.algorithm / digest.hex


class BlobWriter:
    """Streams one blob into the store; use as a context manager.

    Leaving the ``with`` block without :meth:`commit` discards everything.
    """

    def __init__(
        self, blobs_dir: Path, tmp_dir: Path, media_type: str, *, verify: bool = True
    ) -> None:
        self.media_type = media_type
        self._blobs_dir = blobs_dir
        self._what = f"writing a blob into {blobs_dir.parent}"
        with out_of_space(self._what):
            fd, name = make_temp(tmp_dir, "blob-")
        self._tmp_path = Path(name)
        self._file = os.fdopen(fd, "wb")
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.fchmod(fd, FILE_MODE)
        # verify=False: the caller hashes every byte it writes (a layer sink)
        # and names the digest at commit; hashing again cost a third of a
        # big COPY's CPU.
        self._hash = hashlib.sha256() if verify else None
        self._size = 0
        self._done = False

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def write(self, data: bytes, /) -> int:
        """Append ``data``; returns its length."""
        if self._done:
            raise ValueError("blob writer already committed or aborted")
        try:
            self._file.write(data)
        except OSError as err:
            self.abort()  # frees the space at once, not when the caller unwinds
            if is_out_of_space(err):
                raise NoSpaceError(f"no space left on device while {self._what}") from None
            raise
        if self._hash is not None:
            self._hash.update(data)
        self._size += len(data)
        return len(data)

    def commit(self, expected: Digest | None = None) -> Descriptor:
        """Publish the blob; raises :class:`DigestMismatch` if it is not ``expected``."""
        if self._done:
            raise ValueError("blob writer already committed or aborted")
        if self._hash is None:
            if expected is None:
                raise ValueError("a writer made with verify=False needs the digest at commit")
            digest = expected
        else:
            digest = Digest("sha256", self._hash.hexdigest())
        if expected is not None and expected != digest:
            self.abort()
            raise DigestMismatch(f"blob digest mismatch: expected {expected}, got {digest}")
        target = blob_file(self._blobs_dir, digest)
        if target.exists():  # already stored: no need to sync a copy that is dropped
            self.abort()
        else:
            with out_of_space(self._what):
                self._file.flush()
                os.fsync(self._file.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp_path.rename(target)
            self._file.close()
            self._done = True
            fsync_dir(target.parent)
        return Descriptor(self.media_type, digest, self._size)

    def abort(self) -> None:
        """Discard the temp file (idempotent)."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):  # flushing what is left may fail: disk full
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp_path.unlink()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class _VerifyingRaw(io.RawIOBase):
    """Reads a blob file and checks its digest (and size, if known) at EOF."""

    def __init__(self, path: Path, digest: Digest, size: int | None) -> None:
        self._file = path.open("rb", buffering=0)
        self._digest = digest
        self._size = size
        self._hash: hashlib._Hash = digest.hasher()
        self._read = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._file.readinto(buffer)
        if n is None:  # pragma: no cover - regular files never block
            return 0
        if n:
            self._hash.update(memoryview(buffer)[:n])
            self._read += n
            if self._size is not None and self._read > self._size:
                raise DigestMismatch(f"blob {self._digest} is larger than {self._size} bytes")
        else:
            self._verify()
        return n

    def _verify(self) -> None:
        if self._checked:
            return
        self._checked = True
        if self._size is not None and self._read != self._size:
            raise DigestMismatch(
                f"blob {self._digest} has {self._read} bytes, expected {self._size}"
            )
        actual = self._hash.hexdigest()
        if actual != self._digest.hex:
            raise DigestMismatch(f"blob {self._digest} hashes to {self._digest.algorithm}:{actual}")

    def close(self) -> None:
        self._file.close()
        super().close()


def open_verified(path: Path, digest: Digest, size: int | None = None) -> BinaryIO:
    """A buffered reader over ``path`` that raises :class:`DigestMismatch` at EOF."""
    return cast("BinaryIO", io.BufferedReader(_VerifyingRaw(path, digest, size)))
