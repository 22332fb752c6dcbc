"""ADD's extras over COPY: local archives unpacked, URLs downloaded.

* A local source file that is a tar (plain, gzip, bzip2 or xz; detected by
  content, not by name, as BuildKit does) is unpacked into ``dest`` instead
  of copied.  Entries keep their mode (set-id bits too), owner and mtime
  (``--chown`` only owns the directories the unpacking creates, as in
  BuildKit 20.10); fifos and device nodes are made, as BuildKit does (device
  nodes are skipped where mknod is refused).  Names are cleaned so nothing
  lands outside ``dest`` (``../x`` is ``dest/x``, as in BuildKit), nothing is
  written through a symlink, and a hard link's target is looked up without
  following any symlink.
* An ``http(s)://`` source is downloaded with urllib: the file is named after
  the URL path's last element (inside ``dest`` when it ends with ``/``), mode
  0600, mtime from ``Last-Modified``.  ``--checksum=sha256:...`` is checked.
  Downloaded archives are *not* unpacked.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import urllib.parse
from typing import TYPE_CHECKING, BinaryIO

from ocibuild.errors import ContextError, UserError
from ocibuild.executor.sources import clean_inside
from ocibuild.executor.upper import Meta

if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable

    from ocibuild.executor.upper import Upper
    from ocibuild.executor.users import Owner

__all__ = ["download", "extract_archive", "is_archive", "is_url", "url_filename"]

_TAR_MAGIC_OFFSET = 257
# tarfile.CHRTYPE, BLKTYPE, FIFOTYPE (tarfile is imported only to unpack).
_NODES = {b"3": stat.S_IFCHR, b"4": stat.S_IFBLK, b"6": stat.S_IFIFO}


def _decompressors() -> tuple[tuple[bytes, Callable[[BinaryIO], BinaryIO]], ...]:
    # Imported here: a build without ADD of a local archive never needs them.
    import bz2
    import gzip
    import lzma

    return ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))  # type: ignore[return-value]


def is_url(source: str) -> bool:
    """Whether an ADD source is a remote URL."""
    return source.startswith(("http://", "https://"))


def _head(stream: BinaryIO) -> bytes:
    import lzma

    for magic, opener in _decompressors():
        stream.seek(0)
        if stream.read(len(magic)) == magic:
            stream.seek(0)
            try:
                with opener(stream) as inner:
                    return bytes(inner.read(512))
            except (OSError, EOFError, lzma.LZMAError):
                return b""
    stream.seek(0)
    return stream.read(512)


def is_archive(stream: BinaryIO) -> bool:
    """Whether ``stream`` (seekable) holds a tar, maybe compressed.

    As Docker's ``IsArchivePath``: the first header must read as a tar header
    (here also with the ``ustar`` magic); anything else is copied as a file.
    """
    head = _head(stream)
    stream.seek(0)
    if head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] != b"ustar":
        return False
    import tarfile

    from ocibuild.layer.extract import open_stream, stream_members

    try:
        with open_stream(stream, "r|*") as tar:
            first = next(stream_members(tar), None)
    except tarfile.TarError:
        first = None
    stream.seek(0)
    return first is not None


def extract_archive(stream: BinaryIO, upper: Upper, dest: str, chown: Owner | None) -> None:
    """Unpack tar ``stream`` into directory ``dest`` (absolute, resolved) of ``upper``.

    A tar that turns out to be truncated or corrupt past its first header,
    or an entry the file system refuses (an empty symlink target, a name too
    long), raises :class:`ContextError`.  Decompression is tarfile's stream mode, which
    reports a corrupt gzip, bzip2 or xz body as a ``TarError`` too.
    """
    parents = chown or _root_owner()
    upper.ensure_dir(dest, parents)
    import tarfile

    from ocibuild.layer.extract import open_stream, stream_members

    try:
        with open_stream(stream, "r|*") as tar:
            for member in stream_members(tar):
                try:
                    _extract_member(tar, member, upper, dest, chown)
                except OSError as err:  # as apply_layer: the entry named, one line
                    what = err.strerror or str(err)
                    raise ContextError(
                        f"ADD: archive entry {member.name!r} cannot be unpacked: {what}"
                    ) from err
    except tarfile.TarError as err:
        raise ContextError(f"ADD: cannot unpack archive: {err}") from None


def _root_owner() -> Owner:
    from ocibuild.executor.users import Owner

    return Owner(0, 0)


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, upper: Upper, dest: str, chown: Owner | None
) -> None:
    from ocibuild.layer.extract import header_problem

    problem = header_problem(member)
    if problem is not None:
        raise ContextError(f"ADD: archive entry {member.name!r} {problem}")
    rel = clean_inside(member.name)
    if rel == "/":
        return
    path = clean_inside(dest + rel)
    meta = Meta(member.mode, member.uid, member.gid, int(member.mtime) * 1_000_000_000)
    parents = chown or _root_owner()
    if member.isdir():
        upper.make_dir(path, meta, parents)
    elif member.issym():
        upper.write_symlink(path, member.linkname, meta, parents)
    elif member.islnk():
        target = clean_inside(dest + clean_inside(member.linkname))
        st = upper.lstat_entry(target)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise ContextError(f"archive hard link {member.name} to missing {member.linkname}")
        upper.write_hardlink(path, upper.host(target), parents)
    elif member.isfile():
        source = tar.extractfile(member)
        assert source is not None
        upper.write_file(path, source, meta, parents)  # type: ignore[arg-type]
    elif member.type in _NODES:
        _make_node(upper, path, member, meta, parents)


def _make_node(
    upper: Upper, path: str, member: tarfile.TarInfo, meta: Meta, parents: Owner
) -> None:
    """A fifo or device node, as BuildKit makes them; devices are skipped where
    mknod is refused (a user namespace), as Docker does there."""
    device = os.makedev(member.devmajor, member.devminor)
    try:
        upper.write_node(path, _NODES[member.type], device, meta, parents)
    except PermissionError:
        if member.isfifo():
            raise


def url_filename(url: str) -> str:
    """The file name ADD gives a download: the URL path's last element."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path.rstrip("/"))
    return name or "__unnamed__"


def download(url: str, checksum: str | None, spool_dir: str) -> tuple[BinaryIO, int | None]:
    """Fetch ``url`` into a temp file; returns it (at offset 0) and its mtime (s) if known."""
    import tempfile

    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 (returned to the caller)
    digest = hashlib.sha256()
    import urllib.request  # not at module level: it pulls in http, ssl and email

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
            modified = response.headers.get("Last-Modified")
    except OSError as err:
        spool.close()
        raise UserError(f"failed to download {url}: {err}") from None
    _verify(url, checksum, "sha256:" + digest.hexdigest(), spool)
    spool.seek(0)
    return spool, _parse_http_date(modified)


def _verify(url: str, checksum: str | None, actual: str, spool: BinaryIO) -> None:
    if checksum is None:
        return
    if not checksum.startswith("sha256:"):
        spool.close()
        raise UserError(f"unsupported checksum {checksum!r}: only sha256:<hex> is supported")
    if checksum.lower() != actual:
        spool.close()
        raise UserError(f"digest mismatch for {url}: expected {checksum}, got {actual}")


def _parse_http_date(value: str | None) -> int | None:
    if not value:
        return None
    import email.utils

    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return None
