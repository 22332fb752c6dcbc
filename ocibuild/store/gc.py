"""Reachability and sweeping for ``Store.gc``.

Roots are the descriptors of ``index.json`` plus those listed in
``ocibuild/roots/*.json`` (see :func:`read_extra_roots`).  From each root the
walk follows indexes to their manifests and manifests to their config,
layers and subject.  Blobs that are missing are skipped (a layout may omit
non-distributable layers); a manifest or index that cannot be parsed stops
the collection with :class:`~ocibuild.errors.StoreError` rather than risk
deleting what it references.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from typing import TYPE_CHECKING

from ocibuild.errors import StoreError, UserError
from ocibuild.oci import Descriptor, Digest, Index, Manifest, mediatypes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

__all__ = ["children", "reachable", "read_extra_roots", "sweep_blobs", "sweep_tmp"]

_CONFIGS = frozenset({mediatypes.OCI_CONFIG, mediatypes.DOCKER_CONFIG})

#: Temp files younger than this are never removed (their writer may not hold its lock yet).
TMP_GRACE_SECONDS = 60.0


def children(descriptor: Descriptor, data: bytes) -> tuple[Descriptor, ...]:
    """The descriptors an index or manifest blob refers to (none for other blobs)."""
    try:
        if descriptor.media_type in mediatypes.INDEXES:
            return Index.from_json(data).manifests
        if descriptor.media_type in mediatypes.MANIFESTS:
            manifest = Manifest.from_json(data)
            subject = (manifest.subject,) if manifest.subject else ()
            return (manifest.config, *manifest.layers, *subject)
    except UserError as err:
        raise StoreError(f"cannot read {descriptor.digest}: {err}") from None
    return ()


def reachable(
    roots: Iterable[Descriptor],
    read: Callable[[Digest], bytes | None],
    configs: list[Descriptor] | None = None,
) -> set[Digest]:
    """Every digest reachable from ``roots``; ``read`` returns a blob or ``None`` if absent.

    The image config descriptors met on the way are appended to ``configs``.
    """
    seen: set[Digest] = set()
    stack = list(roots)
    while stack:
        descriptor = stack.pop()
        if descriptor.digest in seen:
            continue
        seen.add(descriptor.digest)
        if configs is not None and descriptor.media_type in _CONFIGS:
            configs.append(descriptor)
        if descriptor.media_type in mediatypes.INDEXES | mediatypes.MANIFESTS:
            data = read(descriptor.digest)
            if data is not None:
                stack.extend(children(descriptor, data))
    return seen


def read_extra_roots(roots_dir: Path) -> list[Descriptor]:
    """Descriptors pinned by ``roots_dir/*.json`` files: ``{"descriptors": [...]}``."""
    pinned: list[Descriptor] = []
    for path in sorted(roots_dir.glob("*.json")):
        try:
            obj = json.loads(path.read_bytes())
            pinned.extend(Descriptor.from_json(d) for d in obj["descriptors"])
        except (ValueError, KeyError, TypeError, UserError) as err:
            raise StoreError(f"invalid gc root file {path}: {err}") from None
    return pinned


def sweep_blobs(blobs_dir: Path, live: set[Digest], min_age: float) -> int:
    """Delete blob files not in ``live`` and older than ``min_age`` seconds; bytes freed."""
    freed = 0
    now = time.time()
    for algo_dir in sorted(p for p in blobs_dir.iterdir() if p.is_dir()):
        for path in algo_dir.iterdir():
            try:
                digest = Digest(algo_dir.name, path.name)
            except UserError:
                continue  # not ours to judge
            stat = path.lstat()
            if digest in live or now - stat.st_mtime < min_age:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                freed += stat.st_size
    return freed


def sweep_tmp(tmp_dir: Path) -> int:
    """Delete temp files whose writer is gone (no flock held, older than the grace)."""
    freed = 0
    now = time.time()
    for path in tmp_dir.iterdir():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            stat = os.fstat(fd)
            if now - stat.st_mtime < TMP_GRACE_SECONDS:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                freed += stat.st_size
        finally:
            os.close(fd)
    return freed
