"""Builtin runtime, container side: build the container's mount tree.

Runs in the sandbox's PID 1, already inside fresh mount/PID/UTS/IPC (and
maybe network) namespaces, still as host root.  ``setup_rootfs(config)``
carries out an OCI config's ``root``, ``mounts``, ``linux.devices``,
``maskedPaths`` and ``readonlyPaths``, creates a missing ``process.cwd``
(as runc does), then pivots into the root.  Every
mount lives in the private mount namespace only, so all of them vanish with
it; nothing here ever unmounts on the host.

In a user namespace (rootless, ``ocibuild.rootless``) two things differ,
as in runc: sysfs cannot be mounted while sharing the host's network
namespace, so the host's ``/sys`` is bound read-only instead; and a bind
remount keeps the flags the kernel locked on the source mount.

Paths inside the root are resolved with symlinks followed *inside* it
(``join_in_root``), as runc's securejoin, so an image cannot point a mount
at the host.  Decisions come from the config; this module only acts.
"""

# Paths here are host byte-level names inside an untrusted root, handled with
# os.* calls one component at a time; pathlib would hide that.
# ruff: noqa: PTH101, PTH102, PTH108, PTH112, PTH115, PTH118, PTH120, PTH211

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Any

from ocibuild._linux import mount as m
from ocibuild._linux.userns import in_user_namespace

__all__ = ["join_in_root", "mount_flags", "setup_rootfs"]

_MAX_SYMLINKS = 255
_SET = {
    "ro": m.MS_RDONLY,
    "nosuid": m.MS_NOSUID,
    "nodev": m.MS_NODEV,
    "noexec": m.MS_NOEXEC,
    "relatime": m.MS_RELATIME,
    "strictatime": m.MS_STRICTATIME,
    "bind": m.MS_BIND,
    "rbind": m.MS_BIND | m.MS_REC,
}
_LOCKED = m.MS_RDONLY | m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC  # = ST_* of statvfs
_IGNORED = {"rw", "suid", "dev", "exec", "private", "rprivate", "slave", "rslave"}
_DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)


def join_in_root(root: str, path: str) -> str:
    """Host path of ``path`` inside ``root``, symlinks resolved within root.

    Components that do not exist are kept as they are (to be created).
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(host)
        except OSError:  # not a symlink, or missing
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {path}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return os.path.join(root, *resolved)


def mount_flags(options: list[str]) -> tuple[int, str]:
    """OCI mount options -> (MS_* flags, comma-joined data for the fs)."""
    flags, data = 0, []
    for option in options:
        if option in _SET:
            flags |= _SET[option]
        elif option not in _IGNORED:
            data.append(option)
    return flags, ",".join(data)


def _mkdirs(root: str, path: str) -> str:
    """Create ``path`` inside ``root`` (each parent resolved within root)."""
    current = "/"
    for part in [p for p in path.split("/") if p]:
        current = os.path.join(current, part)
        host = join_in_root(root, current)
        with contextlib.suppress(FileExistsError):
            os.mkdir(host, 0o755)
    return join_in_root(root, path)


def _make_mountpoint(root: str, dest: str, *, is_dir: bool) -> str:
    _mkdirs(root, os.path.dirname(dest.rstrip("/")) or "/")
    target = join_in_root(root, dest)
    if not os.path.lexists(target):
        if is_dir:
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o755))
    return target


def _bind(source: str, target: str, flags: int) -> None:
    m.mount(source, target, None, flags & (m.MS_BIND | m.MS_REC))
    extra = flags & ~(m.MS_BIND | m.MS_REC)
    if extra:
        if in_user_namespace():
            # A namespace's root may not clear the flags the source mount has.
            extra |= os.statvfs(target).f_flag & _LOCKED
        m.mount(None, target, None, m.MS_BIND | m.MS_REMOUNT | extra)


def _mount_one(root: str, spec: dict[str, Any]) -> None:
    flags, data = mount_flags(spec.get("options", []))
    kind, source = spec.get("type", "bind"), spec.get("source", "")
    if flags & m.MS_BIND:
        target = _make_mountpoint(root, spec["destination"], is_dir=Path(source).is_dir())
        _bind(source, target, flags)
        return
    target = _make_mountpoint(root, spec["destination"], is_dir=True)
    try:
        m.mount(source, target, kind, flags, data or None)
    except PermissionError:
        if kind != "sysfs" or not in_user_namespace():
            raise
        # Rootless with the host's network namespace: sysfs may only be
        # mounted by the network namespace's owner; bind the host's, as runc.
        _bind("/sys", target, m.MS_BIND | m.MS_REC | flags)


def _make_device(root: str, device: dict[str, Any]) -> None:
    target = join_in_root(root, device["path"])
    kind = stat.S_IFCHR if device.get("type", "c") == "c" else stat.S_IFBLK
    mode = device.get("fileMode", 0o666) & 0o7777
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)
    try:
        os.mknod(target, kind | mode, os.makedev(device["major"], device["minor"]))
    except PermissionError:  # no CAP_MKNOD: bind the host's node instead
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
        m.mount(device["path"], target, None, m.MS_BIND)
        if in_user_namespace():
            return  # the host's node: its owner is not ours to change (runc neither)
    os.chmod(target, mode)
    os.chown(target, device.get("uid", 0), device.get("gid", 0))


def _dev_links(root: str) -> None:
    for name, target in _DEV_LINKS:
        with contextlib.suppress(FileExistsError):
            os.symlink(target, join_in_root(root, f"/dev/{name}"))


def _mask(root: str, path: str) -> None:
    target = join_in_root(root, path)
    if os.path.isdir(target):
        m.mount("tmpfs", target, "tmpfs", m.MS_RDONLY)
    elif os.path.lexists(target):
        m.mount(join_in_root(root, "/dev/null"), target, None, m.MS_BIND)


def _make_readonly(root: str, path: str) -> None:
    target = join_in_root(root, path)
    if not os.path.lexists(target):
        return
    m.mount(target, target, None, m.MS_BIND | m.MS_REC)
    locked = m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC
    m.mount(None, target, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | locked)


def _pivot(root: str) -> None:
    os.chdir(root)
    m.pivot_root(".", ".")
    m.umount2(".", m.MNT_DETACH)
    os.chdir("/")


def setup_rootfs(config: dict[str, Any], bundle: Path) -> None:
    """Mount everything ``config`` asks for over its root, then pivot into it."""
    root = str((bundle / config["root"]["path"]).resolve())
    m.mount(None, "/", None, m.MS_REC | m.MS_PRIVATE)
    m.mount(root, root, None, m.MS_BIND | m.MS_REC)
    mounts = config.get("mounts", [])
    for spec in mounts:
        _mount_one(root, spec)
    linux = config.get("linux", {})
    for device in linux.get("devices", []):
        _make_device(root, device)
    if any(spec["destination"] == "/dev" for spec in mounts):
        _dev_links(root)
    for path in linux.get("maskedPaths", []):
        _mask(root, path)
    for path in linux.get("readonlyPaths", []):
        _make_readonly(root, path)
    _mkdirs(root, config["process"].get("cwd", "/"))  # runc creates a missing cwd too
    _pivot(root)
    if config["root"].get("readonly", False):
        m.mount(None, "/", None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY)
