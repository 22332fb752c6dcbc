"""The image's final root filesystem as a directory (``-o type=local``) or a tar (``-o -``).

Layers are applied in order into one directory.  OCI whiteouts are applied
as deletions, never left behind as overlay whiteouts: for each layer, a
first pass collects its ``.wh.NAME`` and ``.wh..wh..opq`` entries and deletes
what they hide from the layers below; a second pass unpacks the rest with
:func:`ocibuild.layer.extract.apply_layer` (which owns the safety rules),
fed a copy of the layer tar without the whiteout entries.

:mod:`ocibuild.layer.extract` only unpacks into an overlay lower dir (whiteouts
become char devices and ``trusted.overlay.opaque``), so the deletion pass
lives here.  The directory is built beside ``dest`` and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocibuild.export._tar import Destination, atomic_output
from ocibuild.export.outputs import OutputError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ocibuild.oci import Descriptor
    from ocibuild.store import Store, StoredImage

__all__ = ["write_local", "write_rootfs_tar"]

_OPAQUE = ".wh..wh..opq"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def write_local(store: Store, image: StoredImage, dest_dir: str | os.PathLike[str]) -> None:
    """Write the image's rootfs to ``dest_dir`` (absent or empty)."""
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise OutputError(f"local output {str(dest)!r} exists and is not an empty directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        unpack_rootfs(store, image, tmp)
        tmp.chmod(0o755)
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_rootfs_tar(store: Store, image: StoredImage, dest: Destination) -> None:
    """Write the image's rootfs as one deterministic tar (buildx's ``type=tar``)."""
    from ocibuild.layer.tarwriter import write_layer

    with tempfile.TemporaryDirectory(prefix="ocibuild-rootfs-") as tmp:
        unpack_rootfs(store, image, Path(tmp))
        with atomic_output(dest) as out:
            write_layer(Path(tmp), out, clamp_mtime=None)


def unpack_rootfs(store: Store, image: StoredImage, dest: Path) -> None:
    """Apply every layer of ``image`` into the existing directory ``dest``."""
    for layer in image.manifest.layers:
        whiteouts = _whiteouts(store, layer)
        _delete(dest, whiteouts)
        _apply_without_whiteouts(store, layer, dest)


def _open_tar(store: Store, layer: Descriptor) -> contextlib.AbstractContextManager[BinaryIO]:
    from ocibuild.layer.blob import open_layer_tar

    return contextlib.closing(open_layer_tar(store, layer))


def _whiteouts(store: Store, layer: Descriptor) -> list[tuple[tuple[str, ...], bool]]:
    """``(parts, opaque)`` for each whiteout: ``opaque`` empties the dir ``parts``."""
    from ocibuild.layer.extract import PathEscapesError, clean_name

    found: list[tuple[tuple[str, ...], bool]] = []
    with _open_tar(store, layer) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        for member in tar:
            try:
                parts = clean_name(member.name)
            except PathEscapesError:
                continue  # apply_layer refuses the entry with a proper message
            base = parts[-1] if parts else ""
            if base == _OPAQUE:
                found.append((parts[:-1], True))
            elif base.startswith(".wh.") and not base.startswith(".wh..wh."):
                found.append(((*parts[:-1], base[4:]), False))
    return found


def _delete(root: Path, whiteouts: list[tuple[tuple[str, ...], bool]]) -> None:
    for parts, opaque in whiteouts:
        with _parent_fd(root, parts if opaque else parts[:-1]) as fd:
            if fd is None:
                continue
            names = os.listdir(fd) if opaque else [parts[-1]]  # noqa: PTH208 - a dir fd
            for name in names:
                _remove(fd, name)


@contextlib.contextmanager
def _parent_fd(root: Path, parts: tuple[str, ...]) -> Iterator[int | None]:
    """A dir fd for ``root/parts`` opened without following symlinks, or None."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError, OSError):
                yield None
                return
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _remove(dir_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _apply_without_whiteouts(store: Store, layer: Descriptor, dest: Path) -> None:
    """Unpack ``layer`` with apply_layer, whiteout entries filtered out on the way."""
    from ocibuild.layer.extract import apply_layer

    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    with os.fdopen(read_fd, "rb") as reader:
        feeder = threading.Thread(target=_feed, args=(store, layer, write_fd, failure), daemon=True)
        feeder.start()
        try:
            apply_layer(reader, dest, label=f"layer {layer.digest}")
            reader.read()  # drain, so the feeder never blocks on a full pipe
        except BaseException:
            reader.close()
            feeder.join()
            if failure:  # the feeder's error (a bad blob) explains the broken tar
                raise failure[0] from None
            raise
    feeder.join()
    if failure:
        raise failure[0]


def _feed(store: Store, layer: Descriptor, write_fd: int, failure: list[BaseException]) -> None:
    try:
        with (
            os.fdopen(write_fd, "wb") as out,
            _open_tar(store, layer) as raw,
            tarfile.open(fileobj=raw, mode="r|") as src,
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as dst,
        ):
            for member in src:
                if Path(member.name).name.startswith(".wh."):
                    continue
                data = src.extractfile(member) if member.isreg() else None
                dst.addfile(member, data)
    except BrokenPipeError:
        pass  # the reader stopped early; it reports its own error
    except BaseException as err:
        failure.append(err)
