"""Safe unpacking of one OCI layer tar into a snapshot (overlay lower) directory.

Owns the rules for untrusted layer content:

* names are cleaned lexically; a leading ``/`` or ``./`` is dropped (as GNU
  tar and Docker do), ``a/../b`` becomes ``b``, and a name that climbs above
  the root, or is nested deeper than ``MAX_DEPTH`` directories, is refused
  with :class:`LayerError`;
* every parent is opened component by component with ``O_NOFOLLOW`` from a
  directory fd, so nothing is ever written through a symlink: an entry below
  a symlink (or a file) is refused;
* hardlink targets are cleaned the same way and must already exist inside
  the destination;
* OCI whiteouts become overlayfs ones: ``.wh.NAME`` -> char device 0/0
  ``NAME``, ``.wh..wh..opq`` -> ``trusted.overlay.opaque=y`` on the directory
  (``user.overlay.opaque`` in a user namespace, for ``userxattr`` mounts);
  other ``.wh..wh.*`` (aufs metadata) entries are ignored;
* owners, modes, xattrs (except ``trusted.overlay.*`` and
  ``security.selinux``) and mtimes are restored; ownership and privileged
  xattrs only when running as root.  Directory modes and mtimes are set last.
  As root of a user namespace (rootless), device nodes are skipped (the
  kernel refuses mknod there; Docker's unpacker does the same) and
  xattrs the namespace may not set are left out.

Not here: decompression (:mod:`ocibuild.layer.compress`), snapshot layout
(:mod:`ocibuild.snapshot`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TYPE_CHECKING, BinaryIO, Literal

from ocibuild._linux.userns import in_user_namespace
from ocibuild._linux.xattr import set_xattr
from ocibuild._record import record
from ocibuild.errors import is_out_of_space
from ocibuild.layer.errors import CorruptCompression, LayerError
from ocibuild.layer.tarwriter import MAX_DEPTH, is_whiteout, keep_xattr, opaque_xattr

if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "PathEscapesError",
    "apply_layer",
    "clean_name",
    "header_problem",
    "open_stream",
    "stream_members",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_XATTR_PREFIX = "SCHILY.xattr."
# tarfile.CHRTYPE, BLKTYPE, FIFOTYPE: spelled out so that importing this
# module (every build does, through the snapshots) does not load tarfile.
_NODE_TYPES = {b"3": stat.S_IFCHR, b"4": stat.S_IFBLK, b"6": stat.S_IFIFO}
# Numeric header fields the kernel can take: ids below (uid_t)-1 (which means
# "leave unchanged" to chown), 32-bit modes and device numbers, and mtimes
# whose nanoseconds fit in 64 bits.  Base-256 fields can say anything else.
_ID_END = (1 << 32) - 1
_U32_END = 1 << 32
_MTIME_LIMIT = 9_000_000_000


class PathEscapesError(ValueError):
    """A name climbs above the root."""


def clean_name(name: str) -> tuple[str, ...]:
    """The components of a layer entry name, cleaned lexically.

    Leading ``/`` and ``.`` components are dropped and ``..`` pops a
    component; raises :class:`PathEscapesError` when ``..`` would leave the root.
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathEscapesError(name)
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def header_problem(member: tarfile.TarInfo) -> str | None:
    """What is wrong with a member's numeric fields (None: nothing).

    tar's base-256 and PAX numbers can be negative, huge or not finite,
    and PAX names can hold NUL bytes: the syscalls that restore them would
    fail with OverflowError or ValueError.
    """
    if "\0" in member.name or "\0" in member.linkname:
        return "has a NUL byte in its name or link target"
    if member.issym() and not member.linkname:
        return "is a symlink with an empty target"
    if any("\0" in key for key in member.pax_headers):
        return "has a NUL byte in a PAX record name"
    for field in ("uid", "gid"):
        if not 0 <= getattr(member, field) < _ID_END:
            return f"has an invalid {field} {getattr(member, field)}"
    for field in ("mode", "devmajor", "devminor"):
        if not 0 <= getattr(member, field) < _U32_END:
            return f"has an invalid {field} {getattr(member, field)}"
    if not -_MTIME_LIMIT < member.mtime < _MTIME_LIMIT:  # False for NaN too
        return f"has an invalid mtime {member.mtime}"
    return None


def open_stream(stream: BinaryIO, mode: Literal["r|", "r|*"] = "r|") -> tarfile.TarFile:
    """``tarfile.open`` in stream mode; a first header it cannot parse is a ``ReadError``.

    tarfile reports some malformed PAX and GNU headers (a PAX ``uid=v``, bad
    sparse maps) with ``ValueError`` instead of a ``TarError``.
    """
    import tarfile

    try:
        return tarfile.open(fileobj=stream, mode=mode)
    except ValueError as err:
        raise tarfile.ReadError(f"invalid header: {err}") from err


def stream_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of ``tar`` in order, as :func:`open_stream` reports bad headers."""
    import tarfile

    while True:
        try:
            member = tar.next()
        except ValueError as err:
            raise tarfile.ReadError(f"invalid header: {err}") from err
        if member is None:
            return
        yield member


def apply_layer(stream: BinaryIO, dest: Path, *, label: str = "layer") -> None:
    """Unpack the uncompressed layer tar ``stream`` into the directory ``dest``.

    ``label`` names the layer in error messages (``layer sha256:...``).
    Raises :class:`LayerError` for hostile or malformed entries, and for a
    compressed stream (from ``decompressed``) that turns out to be corrupt.
    """
    import tarfile

    root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        unpacker = _Unpacker(root_fd, label, privileged=os.geteuid() == 0)
        try:
            with open_stream(stream) as tar:
                for member in stream_members(tar):
                    unpacker.entry(member, tar)
        except tarfile.TarError as err:
            raise LayerError(f"{label}: not a valid tar: {err}") from err
        except CorruptCompression as err:
            raise LayerError(f"{label}: {err}") from err
        unpacker.finish()
    finally:
        os.close(root_fd)


@record
class _DirMeta:
    mode: int
    mtime_ns: int


class _Unpacker:
    """Applies tar members below ``root_fd``; remembers directories to finish."""

    def __init__(self, root_fd: int, label: str, *, privileged: bool) -> None:
        self._root = root_fd
        self._label = label
        self._privileged = privileged
        self._dirs: dict[tuple[str, ...], _DirMeta] = {}

    def _error(self, name: str, problem: str) -> LayerError:
        shown = repr(name) if len(name) <= 200 else repr(name[:200]) + "..."
        return LayerError(f"{self._label}: entry {shown} {problem}")

    def _clean(self, name: str) -> tuple[str, ...]:
        try:
            parts = clean_name(name)
        except PathEscapesError:
            raise self._error(name, "escapes the root") from None
        if len(parts) > MAX_DEPTH:
            raise self._error(name, f"is nested deeper than {MAX_DEPTH} levels")
        return parts

    def entry(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        """Apply one member (its data is read from ``tar``)."""
        parts = self._clean(member.name)
        problem = header_problem(member)
        if problem is not None:
            raise self._error(member.name, problem)
        try:
            self._dispatch(parts, member, tar)
        except OSError as err:
            if is_out_of_space(err):
                raise  # the store's problem, not the layer's: the caller names it
            raise self._error(member.name, f"cannot be unpacked: {err.strerror}") from err

    def _dispatch(
        self, parts: tuple[str, ...], member: tarfile.TarInfo, tar: tarfile.TarFile
    ) -> None:
        base = parts[-1] if parts else ""
        if base == ".wh..wh..opq":
            with self._parent(member.name, parts) as directory:
                set_xattr(directory, ".", opaque_xattr(), b"y")
        elif base.startswith(".wh..wh."):
            return
        elif base.startswith(".wh."):
            self._whiteout(member, (*parts[:-1], base[4:]))
        elif not parts:
            if not member.isdir():
                raise self._error(member.name, "replaces the root with a non-directory")
            self._dirs[()] = _DirMeta(member.mode & 0o7777, _mtime_ns(member))
        else:
            with self._parent(member.name, parts) as parent:
                self._create(parent, parts, member, tar)

    @contextlib.contextmanager
    def _parent(self, name: str, parts: tuple[str, ...]) -> Iterator[int]:
        """The fd of the directory holding ``parts[-1]``, creating missing parents."""
        fd = os.dup(self._root)
        try:
            for component in parts[:-1]:
                child = self._open_dir(fd, name, component)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_dir(self, fd: int, name: str, component: str) -> int:
        try:
            return os.open(component, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            os.mkdir(component, 0o755, dir_fd=fd)
        except OSError as err:
            if err.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            st = os.stat(component, dir_fd=fd, follow_symlinks=False)
            if not is_whiteout(st):
                raise self._error(name, f"would be written through {component!r}") from None
            # NAME was whited out earlier in this layer and is now a directory:
            # an opaque one, so that lower layers do not show through.
            os.unlink(component, dir_fd=fd)
            os.mkdir(component, 0o755, dir_fd=fd)
            set_xattr(fd, component, opaque_xattr(), b"y")
        return os.open(component, _DIR_FLAGS, dir_fd=fd)

    def _whiteout(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        if parts[-1] in ("", ".", ".."):
            raise self._error(member.name, "is not a valid whiteout")
        with self._parent(member.name, parts) as parent:
            if _lstat(parent, parts[-1]) is not None:
                return  # this layer's own entry already hides the lower ones
            os.mknod(parts[-1], stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
            self._finish_node(parent, parts[-1], member, chmod=False)

    def _create(
        self,
        parent: int,
        parts: tuple[str, ...],
        member: tarfile.TarInfo,
        tar: tarfile.TarFile,
    ) -> None:
        name = parts[-1]
        replaced = self._make_room(parent, name, member.isdir())
        if member.isdir():
            if replaced is None or not stat.S_ISDIR(replaced.st_mode):
                os.mkdir(name, 0o700, dir_fd=parent)
            if replaced is not None and is_whiteout(replaced):
                set_xattr(parent, name, opaque_xattr(), b"y")
            self._dirs[parts] = _DirMeta(member.mode & 0o7777, _mtime_ns(member))
            self._finish_node(parent, name, member, chmod=False, times=False)
        elif member.isreg():
            self._write_file(parent, name, member, tar)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            self._finish_node(parent, name, member, chmod=False)
        elif member.islnk():
            self._hardlink(parent, name, member)
        elif member.type in _NODE_TYPES:
            kind = _NODE_TYPES[member.type]
            device = os.makedev(member.devmajor, member.devminor)
            try:
                os.mknod(name, kind | 0o600, device, dir_fd=parent)
            except PermissionError:
                if kind == stat.S_IFIFO or not in_user_namespace():
                    raise
                return  # rootless: no device nodes in a user namespace (as Docker's archive)
            self._finish_node(parent, name, member)
        else:
            raise self._error(member.name, f"has unsupported type {member.type!r}")

    def _make_room(self, parent: int, name: str, is_dir: bool) -> os.stat_result | None:
        """Remove what stands at ``name`` unless it is a directory staying one."""
        st = _lstat(parent, name)
        if st is None or (is_dir and stat.S_ISDIR(st.st_mode)):
            return st
        if stat.S_ISDIR(st.st_mode):
            import shutil  # rare (a layer replacing a directory): kept off every build's imports

            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
        return st

    def _write_file(
        self, parent: int, name: str, member: tarfile.TarInfo, tar: tarfile.TarFile
    ) -> None:
        source = tar.extractfile(member)
        assert source is not None  # a regular member always has data
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            while chunk := source.read(_CHUNK):
                os.write(fd, chunk)
        finally:
            os.close(fd)
        self._finish_node(parent, name, member)

    def _hardlink(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        target = self._clean(member.linkname)
        if not target:
            raise self._error(member.name, "links to the root")
        with self._parent(member.name, target) as target_parent:
            if _lstat(target_parent, target[-1]) is None:
                raise self._error(member.name, f"links to missing {member.linkname!r}")
            os.link(
                target[-1],
                name,
                src_dir_fd=target_parent,
                dst_dir_fd=parent,
                follow_symlinks=False,
            )

    def _finish_node(
        self,
        parent: int,
        name: str,
        member: tarfile.TarInfo,
        *,
        chmod: bool = True,
        times: bool = True,
    ) -> None:
        """Owner, mode, xattrs and mtime of a just-created non-directory entry."""
        if self._privileged:
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        if chmod:
            # Created by us just now and not a symlink, so following is safe.
            os.chmod(name, member.mode & 0o7777, dir_fd=parent)
        for key, value in _xattrs(member):
            self._set_xattr(parent, name, key, value)
        if times:
            ns = _mtime_ns(member)
            os.utime(name, ns=(ns, ns), dir_fd=parent, follow_symlinks=False)

    def _set_xattr(self, parent: int, name: str, key: str, value: bytes) -> None:
        try:
            set_xattr(parent, name, key, value)
        except OSError as err:
            unsupported = err.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)
            if (self._privileged and not in_user_namespace()) or not unsupported:
                raise  # a namespace's root may not set trusted.* xattrs: skipped as non-root

    def finish(self) -> None:
        """Set directory modes and mtimes, now that their contents exist."""
        for parts, meta in sorted(self._dirs.items(), reverse=True):
            fd = self._walk_existing(parts)
            if fd is None:
                continue  # replaced by a non-directory later in the layer
            try:
                os.fchmod(fd, meta.mode)
                os.utime(fd, ns=(meta.mtime_ns, meta.mtime_ns))
            finally:
                os.close(fd)

    def _walk_existing(self, parts: tuple[str, ...]) -> int | None:
        fd = os.dup(self._root)
        for component in parts:
            try:
                child = os.open(component, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    return None
                raise
            finally:
                os.close(fd)
            fd = child
        return fd


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return round(member.mtime * 1_000_000_000)


def _xattrs(member: tarfile.TarInfo) -> Iterator[tuple[str, bytes]]:
    for key, value in sorted(member.pax_headers.items()):
        if key.startswith(_XATTR_PREFIX):
            name = key[len(_XATTR_PREFIX) :]
            if keep_xattr(name):
                yield name, value.encode("utf-8", "surrogateescape")
