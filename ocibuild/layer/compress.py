"""Deterministic layer compression and the matching streaming decompression.

Owns the choice of algorithm parameters, so that the same tar always gives
the same blob on the same library versions:

* gzip: zlib level 6 (zlib's and Go's default level, which containerd and
  BuildKit use), the gzip header written by zlib itself (``wbits=31``):
  mtime 0, no file name, no comment;
* zstd: level 3 (zstd's default) with ``threads=1``.  zstd's multi-threaded
  mode writes the same bytes for any worker count >= 1, but single-threaded
  mode (``threads=0``) frames the data differently; pinning 1 keeps the
  output independent of the machine.  Frames carry no content size (the tar
  is streamed) and no checksum.

Decompression sniffs magic bytes rather than trusting the media type, since
Docker's gzip media type is also used for uncompressed blobs by some tools.
A stream that does not decompress (a bad header, a truncated or corrupt
body) raises :class:`~ocibuild.layer.errors.CorruptCompression` when it is
read, never the codec's own exception: layers come from untrusted images.
"""

from __future__ import annotations

import enum
import gzip
import io
import zlib
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ocibuild.layer.errors import CorruptCompression
from ocibuild.oci import mediatypes

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "GZIP_LEVEL",
    "ZSTD_LEVEL",
    "ZSTD_THREADS",
    "Compression",
    "Compressor",
    "compressor",
    "decompressed",
]

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
ZSTD_THREADS = 1
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Compression(enum.Enum):
    """How a layer blob is compressed; the value is the OCI media type."""

    NONE = mediatypes.OCI_LAYER
    GZIP = mediatypes.OCI_LAYER_GZIP
    ZSTD = mediatypes.OCI_LAYER_ZSTD

    @property
    def media_type(self) -> str:
        """The OCI layer media type for this compression."""
        return self.value


class Compressor(Protocol):
    """Incremental compression: bytes in, compressed bytes out."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class _Identity:
    def compress(self, data: bytes, /) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Zstd:
    # zstandard is imported where it is used: most builds never touch zstd.
    def __init__(self) -> None:
        import zstandard

        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=ZSTD_THREADS)
        self._obj = cctx.compressobj()

    def compress(self, data: bytes, /) -> bytes:
        out: bytes = self._obj.compress(data)
        return out

    def flush(self) -> bytes:
        import zstandard

        out: bytes = self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
        return out


def compressor(compression: Compression) -> Compressor:
    """A fresh deterministic compressor for ``compression``."""
    match compression:
        case Compression.NONE:
            return _Identity()
        case Compression.GZIP:
            return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        case Compression.ZSTD:
            return _Zstd()


def decompressed(raw: BinaryIO) -> BinaryIO:
    """An uncompressed reader over ``raw`` (gzip, zstd or plain, by magic bytes).

    Closing the result closes ``raw``.
    """
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(_Raw(raw))
    magic = buffered.peek(4)[:4]
    opener: Callable[[BinaryIO], BinaryIO]
    if magic.startswith(_GZIP_MAGIC):
        opener = _open_gzip
    elif magic == _ZSTD_MAGIC:
        opener = _open_zstd
    else:
        return buffered
    return opener(buffered)


def _open_gzip(raw: BinaryIO) -> BinaryIO:
    # BadGzipFile is an OSError: only the gzip reader's own errors are caught.
    errors = ("gzip", (gzip.BadGzipFile, EOFError, zlib.error))
    return _Closing(gzip.GzipFile(fileobj=raw, mode="rb"), raw, errors)


def _open_zstd(raw: BinaryIO) -> BinaryIO:
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    return io.BufferedReader(_Raw(reader, ("zstd", (zstandard.ZstdError,))))


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


#: A codec's name and the exceptions its reader raises for corrupt input.
_CodecErrors = tuple[str, tuple[type[Exception], ...]]


class _Raw(io.RawIOBase):
    """Adapts any binary reader to ``RawIOBase`` so it can be buffered.

    ``errors`` (codec name, exception types) are turned into
    :class:`CorruptCompression` as they come out of ``inner.read``.
    """

    def __init__(self, inner: _Readable, errors: _CodecErrors = ("", ())) -> None:
        self._inner = inner
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        name, kinds = self._errors
        try:
            data = self._inner.read(len(buffer))
        except kinds as err:
            raise CorruptCompression(
                f"corrupt {name} stream: {str(err) or type(err).__name__}"
            ) from err
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class _Closing(io.BufferedReader):
    """A buffered reader that also closes an underlying stream."""

    def __init__(self, inner: _Readable, owned: BinaryIO, errors: _CodecErrors) -> None:
        super().__init__(_Raw(inner, errors))
        self._owned = owned

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owned.close()
