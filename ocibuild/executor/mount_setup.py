"""``RUN --mount`` on the host: turn parsed mounts into sandbox :class:`Mount`\\ s.

Every temp dir, lock and copy is owned by the caller's ``ExitStack`` and
lives under the step's temp dir, so nothing of a mount outlives the step
(except a cache dir, which is meant to):

* bind: the source (context by default, or ``from=`` a stage, named context
  or image) is copied into a temp dir and bind-mounted, read-only unless
  ``rw``; writes to an ``rw`` bind go to that copy and are discarded.
  Context files are owned by 0:0, other trees keep their owners.
* cache: ``<store>/ocibuild/cache-mounts/<id>``, made with mode/uid/gid on
  first use (seeded from ``from=``/``source`` if given) and kept across
  builds (made as ``cache-mounts/%new-<owner>`` and renamed, see
  ``store.scratch``; ``cache-mounts/`` is ``chattr +T`` as the snapshots
  root is, so a cache's many small files do not land among recently
  deleted inodes).  ``locked`` holds an flock for the whole step;
  ``private`` uses a fresh temp dir while another step holds the cache;
  ``shared`` takes no lock.
* tmpfs: a tmpfs at the target.
* secret: the value (a host file or environment variable) is written to a
  temp file with mode/uid/gid and bind-mounted read-only; a missing secret is
  an error when ``required``, else the mount is skipped.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ocibuild._record import field, record
from ocibuild._rmtree import rmtree
from ocibuild.errors import UserError
from ocibuild.executor.mounts import (
    BindMount,
    CacheMount,
    SecretMount,
    SecretSource,
    TmpfsMount,
    parse_mount,
)
from ocibuild.executor.sources import clean_inside
from ocibuild.store.scratch import CACHE_MOUNT_PREFIX, owned_name

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Mapping, Sequence

    from ocibuild.executor.mounts import RunMount
    from ocibuild.executor.sources import SourceTree
    from ocibuild.sandbox import Mount

__all__ = ["MountInputs", "parse_mounts", "prepare_mounts"]

CACHE_DIR = "cache-mounts"


def _no_secrets() -> Mapping[str, SecretSource]:
    return {}


@record
class MountInputs:
    """What mounts read: ``tree(name)`` -> (tree, keep owners), the cache root, the secrets."""

    tree: Callable[[str | None], tuple[SourceTree, bool]]
    cache_root: Path
    secrets: Mapping[str, SecretSource] = field(default_factory=_no_secrets)


def parse_mounts(values: Sequence[str]) -> tuple[RunMount, ...]:
    """Parse every ``--mount`` value (before any work, so a typo fails fast)."""
    return tuple(parse_mount(v) for v in values)


def prepare_mounts(
    stack: contextlib.ExitStack, tmp: Path, mounts: Sequence[RunMount], inputs: MountInputs
) -> tuple[Mount, ...]:
    """Make every mount's host side under ``tmp``; the stack undoes what must go."""
    from ocibuild.sandbox import Mount  # not at module level: cache keys parse mounts too

    made: list[Mount] = []
    for index, mount in enumerate(mounts):
        work = tmp / f"mount-{index}"
        match mount:
            case BindMount():
                made.append(_bind(work, mount, inputs))
            case CacheMount():
                made.append(_cache(stack, work, mount, inputs))
            case TmpfsMount():
                size = () if mount.size is None else (f"size={mount.size}",)
                made.append(Mount(destination=mount.target, type="tmpfs", options=size))
            case SecretMount():
                made.extend(_secret(work, mount, inputs.secrets))
    return tuple(made)


def _bind(work: Path, mount: BindMount, inputs: MountInputs) -> Mount:
    from ocibuild.sandbox import Mount

    tree, keep_owner = inputs.tree(mount.from_)
    copy = work / "src"
    _copy_tree(tree, clean_inside(mount.source), copy, keep_owner)
    return Mount(destination=mount.target, source=str(copy.resolve()), readonly=not mount.rw)


def _cache(
    stack: contextlib.ExitStack, work: Path, mount: CacheMount, inputs: MountInputs
) -> Mount:
    from ocibuild.sandbox import Mount

    base = inputs.cache_root / CACHE_DIR
    base.mkdir(parents=True, exist_ok=True)
    name = quote(mount.id, safe="")
    path = base / name
    if mount.sharing != "shared":
        lock = stack.enter_context((base / f"{name}.lock").open("a+b"))
        wait = mount.sharing == "locked"
        if _flock(lock.fileno(), wait):
            stack.callback(fcntl.flock, lock.fileno(), fcntl.LOCK_UN)
        else:  # private and busy: a fresh dir for this step only
            path = work / "cache"
    if not path.exists():
        _new_cache(path, mount, inputs)
    return Mount(destination=mount.target, source=str(path.resolve()), readonly=mount.readonly)


def _flock(fd: int, wait: bool) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _new_cache(path: Path, mount: CacheMount, inputs: MountInputs) -> None:
    """Make the cache dir atomically (seeded from ``from=`` if given), owned as asked."""
    # Named after this process (a SIGKILLed build's is swept by the next build
    # or gc) and unique per call: stages building in parallel threads share it.
    from ocibuild.snapshot.snapshots import mark_topdir

    temp = path.with_name(owned_name(CACHE_MOUNT_PREFIX))
    path.parent.mkdir(parents=True, exist_ok=True)
    mark_topdir(path.parent)  # each cache dir placed as a hierarchy of its own (004)
    if mount.from_ is not None:
        tree, keep_owner = inputs.tree(mount.from_)
        _copy_tree(tree, clean_inside(mount.source), temp, keep_owner)
    else:
        temp.mkdir(parents=True)
    os.chown(temp, mount.uid, mount.gid)
    temp.chmod(mount.mode)
    try:
        temp.rename(path)
    except OSError:  # made meanwhile by another build
        rmtree(temp, ignore_errors=True)


def _secret(work: Path, mount: SecretMount, secrets: Mapping[str, SecretSource]) -> list[Mount]:
    from ocibuild.sandbox import Mount

    value = _secret_value(secrets.get(mount.id))
    if value is None:
        if mount.required:
            raise UserError(f"secret {mount.id} not found")
        return []
    work.mkdir(parents=True)
    work.chmod(0o700)
    path = work / "secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(value)
    os.chown(path, mount.uid, mount.gid)
    path.chmod(mount.mode)
    return [Mount(destination=mount.target, source=str(path.resolve()), readonly=True)]


def _secret_value(source: SecretSource | None) -> bytes | None:
    if source is None:
        return None
    if source.env is not None:
        value = os.environ.get(source.env)
        return None if value is None else value.encode()
    assert source.src is not None
    try:
        return Path(source.src).expanduser().read_bytes()
    except FileNotFoundError:
        raise UserError(f"secret {source.id}: file {source.src!r} not found") from None


def _copy_tree(tree: SourceTree, path: str, dest: Path, keep_owner: bool) -> None:
    """Copy ``path`` of ``tree`` (followed if a symlink) to host path ``dest``."""
    try:
        real = tree.resolve(path)
        st = tree.lstat(real)
    except FileNotFoundError:
        raise UserError(f'failed to compute cache key: "{path}" not found') from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    _copy_entry(tree, real, dest, st, keep_owner)


def _copy_entry(
    tree: SourceTree, src: str, dest: Path, st: os.stat_result, keep_owner: bool
) -> None:
    if stat.S_ISDIR(st.st_mode):
        dest.mkdir()
        for name in sorted(tree.listdir(src)):
            child = f"{src.rstrip('/')}/{name}"
            _copy_entry(tree, child, dest / name, tree.lstat(child), keep_owner)
    elif stat.S_ISLNK(st.st_mode):
        dest.symlink_to(tree.readlink(src))
    elif stat.S_ISREG(st.st_mode):
        import shutil  # bind and cache mounts seeded from a tree only: not every build's

        with tree.open(src) as fin, dest.open("xb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        return  # devices, fifos and sockets are left out
    uid, gid = (st.st_uid, st.st_gid) if keep_owner else (0, 0)
    os.lchown(dest, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        dest.chmod(stat.S_IMODE(st.st_mode))
    os.utime(dest, ns=(st.st_mtime_ns, st.st_mtime_ns), follow_symlinks=False)
