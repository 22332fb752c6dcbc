"""Overlay mounts for RUN steps, and removing the sandbox's traces from an upper.

``mount_overlay(lowers, upper, work, target)`` mounts an overlayfs (lowers
topmost first, as ``Snapshots.ensure`` returns them) and leaves it there:
the sandbox helper calls it inside its own private mount namespace, where
the mount goes away with the helper (see ``ocibuild.sandbox.init``).
``overlay_mount`` is the same as a context manager that unmounts on exit,
for callers that mount in their own namespace.
The mount data must fit in one page (4096 bytes).  When absolute lowerdir
paths are too long, the lowers are named by short symlinks (``0``, ``1``,
...) in a temporary directory, and the mount is made by a short-lived child
whose working directory is that directory, so the data holds only relative
names (``lowerdir=0:1:2...``) -- what Docker's overlay2 does with its ``l/``
links.  The chdir happens in the child only, so it is thread-safe.  That
reaches overlayfs' own limit of 500 lowers.  Inside a user namespace
(rootless, see ``ocibuild.rootless``) the mount uses ``userxattr``: opaque
directories are then marked ``user.overlay.opaque`` instead of
``trusted.overlay.opaque`` (``ocibuild.layer.tarwriter.opaque_xattr``).

``clean_upper(upper, lowers, mountpoints)``: after a RUN, the runtime has
created empty files and directories in the upper as mount points (/proc,
/dev, /sys, /etc/hosts ...) wherever the image had none.  They are removed
(with parents created only for them), so they never land in a layer; a
copied-up parent keeps its lower mtime.  Anything the step itself wrote is
kept: only empty entries that no lower has are removed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._linux.mount import MNT_DETACH, mount, umount2
from ocibuild._linux.userns import in_user_namespace

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = ["MAX_LOWERS", "SANDBOX_MOUNTPOINTS", "clean_upper", "mount_overlay", "overlay_mount"]

PAGE = 4096
MAX_LOWERS = 500
SANDBOX_MOUNTPOINTS: tuple[str, ...] = (
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",  # noqa: S108 - a container path
    "/dev/mqueue",
    "/sys",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/hostname",
)
"""Mount points every sandbox creates (see ``ocibuild.sandbox.spec``)."""

_MOUNT_IN_CWD = (
    "import sys\n"
    "from ocibuild._linux.mount import mount\n"
    "mount('overlay', sys.argv[1], 'overlay', 0, sys.argv[2])\n"
)


def _data(lowers: Iterable[str], upper: Path, work: Path) -> str:
    data = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    # In a user namespace (rootless) overlayfs can keep its metadata only in
    # user.overlay.* xattrs: the kernel refuses trusted.* to a namespace's root.
    return data + ",userxattr" if in_user_namespace() else data


def _escape(path: Path) -> str:
    text = str(path.resolve())
    if any(c in text for c in ":,\\"):
        raise ValueError(f"overlay path must not contain ':', ',' or '\\': {text}")
    return text


def _mount_via_links(lowers: Sequence[str], upper: Path, work: Path, target: Path) -> None:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ovl-", dir=work.parent) as links:
        names = [format(i, "x") for i in range(len(lowers))]
        for name, lower in zip(names, lowers, strict=True):
            (Path(links) / name).symlink_to(lower)
        data = _data(names, upper, work)
        if len(data) >= PAGE:
            raise ValueError(f"overlay mount data too long even with short links ({len(data)})")
        proc = subprocess.run(
            [sys.executable, "-c", _MOUNT_IN_CWD, str(target), data],
            cwd=links,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["?"]
            raise OSError(f"overlay mount on {target} failed: {lines[-1]}")


def mount_overlay(lowers: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount overlayfs at ``target`` (never unmounted here).

    ``lowers`` are topmost first, at least one.  ``upper`` and ``work`` must
    be on the same file system.  Mount data longer than a page goes through
    short links (see the module docstring).
    """
    if not lowers:
        raise ValueError("overlayfs needs at least one lower dir")
    if len(lowers) > MAX_LOWERS:
        raise ValueError(f"overlayfs takes at most {MAX_LOWERS} lower dirs, got {len(lowers)}")
    names = [_escape(p) for p in lowers]
    data = _data(names, Path(_escape(upper)), Path(_escape(work)))
    if len(data) < PAGE:
        mount("overlay", target, "overlay", 0, data)
    else:
        _mount_via_links(names, Path(_escape(upper)), Path(_escape(work)), target)


@contextlib.contextmanager
def overlay_mount(lowers: Sequence[Path], upper: Path, work: Path, target: Path) -> Iterator[Path]:
    """Mount overlayfs at ``target`` for the ``with`` block; yields ``target``.

    As ``mount_overlay``, except that with no lowers an empty read-only
    lower is used.
    """
    with contextlib.ExitStack() as stack:
        if not lowers:
            import tempfile

            lowers = [Path(stack.enter_context(tempfile.TemporaryDirectory(dir=work.parent)))]
        mount_overlay(lowers, upper, work, target)
        try:
            yield target
        finally:
            umount2(target, MNT_DETACH)


def _in_lowers(lowers: Sequence[Path], rel: str) -> bool:
    return any(os.path.lexists(lower / rel) for lower in lowers)


def _is_stub(path: Path) -> bool:
    """An empty regular file or an empty directory (what a runtime creates)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if path.is_symlink():
        return False
    if path.is_dir():
        return not any(path.iterdir())
    return path.is_file() and st.st_size == 0


def _restore_mtime(lowers: Sequence[Path], upper: Path, rel: str) -> None:
    for lower in lowers:
        source = lower / rel
        if os.path.lexists(source):
            st = source.lstat()
            os.utime(upper / rel, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
            return


def _through_symlink(upper: Path, parts: tuple[str, ...]) -> bool:
    return any((upper.joinpath(*parts[:i])).is_symlink() for i in range(1, len(parts)))


def _remove_stub(upper: Path, lowers: Sequence[Path], rel: str) -> None:
    parts = Path(rel).parts
    if _through_symlink(upper, parts):
        return
    while parts:
        rel_now = str(Path(*parts))
        path = upper / rel_now
        if _in_lowers(lowers, rel_now):
            if os.path.lexists(path) and path.is_dir() and not path.is_symlink():
                _restore_mtime(lowers, upper, rel_now)
            return
        if not _is_stub(path):
            return
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
        parts = parts[:-1]


def clean_upper(
    upper: Path, lowers: Sequence[Path], mountpoints: Iterable[str] = SANDBOX_MOUNTPOINTS
) -> None:
    """Remove the empty mount points a run left in ``upper`` that no lower has.

    ``mountpoints`` are absolute container paths; deepest are handled first.
    """
    rels = sorted({p.strip("/") for p in mountpoints if p.strip("/")}, key=len, reverse=True)
    for rel in rels:
        if ".." in Path(rel).parts:
            raise ValueError(f"mount point must not contain '..': {rel}")
        _remove_stub(upper, lowers, rel)
