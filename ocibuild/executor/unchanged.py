"""Unchanged rebuilds: the last build's image, when nothing it was made from changed.

A rebuild whose every step hits the build cache still parses and plans the
Dockerfile, checksums its COPY sources and assembles the image, only to
arrive at the image it made last time.  This module remembers, per build
*name* (the context directory, the Dockerfile's path, the settings that
decide the image and ocibuild's own code), what the last build was made
from and what it made, and hands that image back when all of these are
as they were:

* the Dockerfile's text and the ``.dockerignore`` rules;
* the stats (type, mode, owner, size, mtime, ctime, inode, device) of every
  entry of the context that ``.dockerignore`` leaves in: any edit, add,
  remove, rename or chmod changes one of them;
* the store's ``index.json``: the image bases (and images of ``COPY
  --from``) are resolved there, so a tag moved, an image pulled or removed
  sends the next build down the full path.  The build's own tags are left
  out of the comparison (:func:`own_tags`), so that two builds taking turns
  with one ``-t`` each find their image again, unless the Dockerfile or a
  build arg could name one of them (``FROM myimg`` in a build tagged
  ``myimg`` builds on its last result);
* the build cache records the build stood on (layer, diff_id, ``created``,
  ``created_by``): a ``prune`` or a ``--no-cache`` build that replaced them
  changes what a full rebuild would make;
* every blob of the image is still in the store.

What is not remembered (:func:`remember` is not called; ``ocibuild.api``
decides): a build whose result the same inputs would not give again
(``BuildResult.repeatable``: ADD of a URL without ``--checksum``, an image
``created`` taken from the clock), a build that pulled or during which
another process changed ``index.json``, and a build over a context entry
changed within :data:`RACY_NS` of the walk (its stats could stay the same
through a later write in the same clock tick) or on a filesystem stamped by
another machine's clock (NFS, FUSE...: the window means nothing there).  The stats are taken before
the build reads anything, so a file changed while a build runs gives the
next build another signature, never a stale hit.

A hit is reported as the full path reports a rebuild: every step started
and CACHED, in the order the remembered build started them; the records'
``last_used`` are touched as a cache hit would.  Records live in
``ROOT/ocibuild/unchanged/NAME.json``, one per build name, rewritten by
each build (without fsync: a lost or torn record is a miss).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.store._fs import write_atomic

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

    from ocibuild.dockerfile.ignore import IgnoreRules
    from ocibuild.executor.options import BuildResult
    from ocibuild.progress import StepStarted
    from ocibuild.store import Store
    from ocibuild.store.cache import CacheRecord

__all__ = [
    "RACY_NS",
    "Inputs",
    "Remembered",
    "forget",
    "index_version",
    "inputs",
    "local_clock_devices",
    "lookup",
    "own_tags",
    "remember",
]

#: Bump when what is hashed or stored changes.
FORMAT = 1

#: Context entries whose ctime is this close to (or after) the walk's start
#: make the build unrememberable: the kernel stamps a change with its coarse
#: clock, one tick (1-10 ms: CONFIG_HZ 1000-100) behind the fine one the walk
#: reads, so a write later in that tick could leave every stat field as it
#: was.  Two ticks at HZ=100.  Only for filesystems stamped by this kernel's
#: clock (:func:`_local_devices`): a server's clock may be anywhere.
RACY_NS = 20_000_000

#: Filesystems whose timestamps come from another machine's clock (or a
#: user-space daemon's), by ``/proc/self/mountinfo`` type (before any ``.``).
_FOREIGN_CLOCKS = frozenset(
    {
        "9p", "afs", "ceph", "cifs", "coda", "davfs", "fuse", "fuseblk", "gfs2",
        "glusterfs", "lustre", "ncpfs", "nfs", "nfs4", "ocfs2", "smb3", "smbfs",
        "vboxsf", "virtiofs", "vmhgfs",
    }
)  # fmt: skip

_DIR = "unchanged"
_REF_NAME = "org.opencontainers.image.ref.name"
_TOKEN = re.compile(r"[A-Za-z0-9._-]+")


@record
class Inputs:
    """What a build is made from, as far as an unchanged rebuild must match it.

    ``name`` names the record (where and how: context, Dockerfile path,
    settings, ocibuild's code); ``content`` hashes what (the Dockerfile
    text, the ignore rules, every context entry's stats); ``index`` hashes
    the store's ``index.json`` as it was before the build; ``racy`` says a
    context entry changed too recently for its stats to be trusted; ``own``
    are the build's tags left out of ``index``.
    """

    name: str
    content: str
    index: str
    racy: bool
    own: tuple[str, ...] = ()


@record
class Remembered:
    """A hit: the image (as the executor would return it) and the steps to report."""

    result: BuildResult
    steps: tuple[tuple[str, int, int, int, str], ...]


def inputs(
    store: Store,
    context: Path,
    dockerfile: str,
    text: str,
    rules: IgnoreRules,
    settings: Mapping[str, object],
    own: Collection[str] = (),
) -> Inputs | None:
    """The inputs of a build of directory ``context`` (None: the context cannot be read).

    ``dockerfile`` is the Dockerfile's absolute path (``-`` for text given
    directly), ``text`` its text, ``rules`` the ``.dockerignore`` the build
    applies, ``settings`` every option that decides the image (JSON values),
    ``own`` the tags left out of the index's hash (:func:`own_tags`).
    """
    name = hashlib.sha256()
    for part in (FORMAT, str(context), dockerfile, os.uname().machine, _code()):
        name.update(f"{part}\0".encode())
    name.update(json.dumps(settings, sort_keys=True, default=str).encode())
    content = hashlib.sha256(text.encode("utf-8", "surrogateescape"))
    content.update(f"\0{rules.patterns!r}\0".encode())
    start = time.time_ns()
    try:
        newest, devices = _walk_context(context, rules, content)
    except OSError:
        return None
    return Inputs(
        name=name.hexdigest(),
        content=content.hexdigest(),
        index=index_version(store, own),
        racy=newest >= start - RACY_NS or not devices <= local_clock_devices(_mountinfo()),
        own=tuple(own),
    )


def index_version(store: Store, own: Collection[str] = ()) -> str:
    """A hash of the store's ``index.json`` as it is now, without the entries of
    the ``own`` tags (stored names, ``name:tag``); empty when unreadable."""
    try:
        raw = (store.root / "index.json").read_bytes()
        if own:
            index = json.loads(raw)
            entries = index["manifests"]
            index["manifests"] = [
                m for m in entries if (m.get("annotations") or {}).get(_REF_NAME) not in own
            ]
            raw = json.dumps(index, sort_keys=True).encode()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""
    return hashlib.sha256(raw).hexdigest()


def own_tags(tags: Iterable[str], text: str, build_args: Iterable[str]) -> tuple[str, ...]:
    """``tags`` (stored names) to leave out of the index's hash: all of them, or
    none when the last path part of one's repository is a word of the
    Dockerfile ``text`` or of a build arg's value (it could be a base)."""
    tags = tuple(tags)
    words = set(_TOKEN.findall(text))
    for value in build_args:
        words.update(_TOKEN.findall(value))
    for tag in tags:
        repository = tag.rpartition(":")[0] if ":" in tag.rpartition("/")[2] else tag
        if repository.rpartition("/")[2] in words:
            return ()
    return tags


def lookup(store: Store, found: Inputs) -> Remembered | None:
    """The remembered image of a build with ``found`` inputs, if it is still that image."""
    from ocibuild.errors import StoreError
    from ocibuild.executor.options import BuildResult
    from ocibuild.oci import Descriptor
    from ocibuild.store import ImageNotFoundError

    try:
        data = json.loads(_path(store, found.name).read_bytes())
        if (data["format"], data["content"], data["index"]) != (FORMAT, found.content, found.index):
            return None
        manifest = Descriptor.from_json(data["manifest"])
        image = store.image(manifest)
        keys = tuple(data["cache_keys"])
        final_keys = tuple(data["final_stage_cache_keys"])
        steps = tuple((s, int(i), int(p), int(t), x) for s, i, p, t, x in data["steps"])
    except (OSError, ValueError, KeyError, TypeError, ImageNotFoundError, StoreError):
        return None
    if not all(store.has_blob(layer) for layer in image.manifest.layers):
        return None
    if _records_digest(store.cache.find(keys)) != data["records"]:
        return None
    store.cache.touch(keys)
    result = BuildResult(manifest, image.config_desc, image, keys, final_keys, repeatable=True)
    return Remembered(result, steps)


def remember(
    store: Store,
    found: Inputs,
    result: BuildResult,
    steps: Sequence[StepStarted],
    before: str,
    after: str,
) -> None:
    """Record ``result`` as what a build with ``found`` inputs makes, if a
    rebuild would make it again.  ``before`` and ``after`` hash the store's
    ``index.json`` (:func:`index_version`) just before and after the build
    tagged its image: the record is kept only when nothing else changed the
    index while it built, and its own tags (when it may read them:
    :func:`own_tags`) did not either."""
    if not result.repeatable or found.racy or not before == found.index == after:
        return
    data = {
        "format": FORMAT,
        "content": found.content,
        "index": after,
        "manifest": result.manifest.to_json(),
        "cache_keys": list(result.cache_keys),
        "final_stage_cache_keys": list(result.final_stage_cache_keys),
        "records": _records_digest(store.cache.find(result.cache_keys)),
        "steps": [[s.stage, s.stage_index, s.position, s.total, s.text] for s in steps],
    }
    directory = store.meta_dir / _DIR
    directory.mkdir(exist_ok=True)
    encoded = json.dumps(data, sort_keys=True).encode()
    write_atomic(_path(store, found.name), encoded, store.tmp_dir, durable=False)


def forget(store: Store) -> int:
    """Drop every record (``ocibuild prune``); returns how many there were."""
    try:
        records = list((store.meta_dir / _DIR).iterdir())
    except FileNotFoundError:
        return 0
    for path in records:
        path.unlink(missing_ok=True)
    return len(records)


def _path(store: Store, name: str) -> Path:
    return store.meta_dir / _DIR / f"{name}.json"


def _records_digest(records: Sequence[CacheRecord]) -> str:
    digest = hashlib.sha256()
    for r in records:
        digest.update(
            f"{r.key}\0{r.layer_digest}\0{r.diff_id}\0{r.created}\0{r.created_by}\n".encode()
        )
    return digest.hexdigest()


def _walk_context(root: Path, rules: IgnoreRules, sink: hashlib._Hash) -> tuple[int, set[int]]:
    """Feed ``sink`` every included entry's stats, in a fixed order; the newest
    ctime, and the devices the entries are on."""
    newest = 0
    devices: set[int] = set()
    for rel, st in _entries(str(root), "", rules):
        newest = max(newest, st.st_ctime_ns)
        devices.add(st.st_dev)
        sink.update(
            f"{rel}\0{st.st_mode}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0"
            f"{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}\n".encode(
                "utf-8", "surrogateescape"
            )
        )
    return newest, devices


def _mountinfo() -> str:
    try:
        return Path("/proc/self/mountinfo").read_text()
    except OSError:
        return ""


def local_clock_devices(mountinfo: str) -> set[int]:
    """The devices of the filesystems in ``mountinfo`` (``/proc/self/mountinfo``'s
    text) whose timestamps come from this kernel's clock."""
    local = set()
    for line in mountinfo.splitlines():
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 3 or not rest or rest.split()[0].partition(".")[0] in _FOREIGN_CLOCKS:
            continue
        major, _, minor = parts[2].partition(":")
        if major.isdigit() and minor.isdigit():
            local.add(os.makedev(int(major), int(minor)))
    return local


def _entries(top: str, prefix: str, rules: IgnoreRules) -> Iterator[tuple[str, os.stat_result]]:
    """``(relative path, lstat)`` of ``top`` and every entry under it that ``rules``
    leave in (an excluded directory is entered only when a ``!`` rule may
    re-include something under it), sorted by name."""
    yield prefix, os.lstat(top)
    with os.scandir(top) as listing:
        found = sorted(listing, key=lambda e: e.name)
    for entry in found:
        rel = f"{prefix}/{entry.name}" if prefix else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if rules.patterns and rules.excluded(rel):
            if is_dir and rules.could_include_under(rel):  # itself included: conservative
                yield from _entries(entry.path, rel, rules)
            continue
        if is_dir:
            yield from _entries(entry.path, rel, rules)
        else:
            yield rel, entry.stat(follow_symlinks=False)


def _code() -> str:
    """A hash of ocibuild's own source files' names, sizes and mtimes: another
    version (or an edited tree) remembers separately."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for rel, st in _source_stats(str(package), ""):
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _source_stats(top: str, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(top) as listing:
        found = sorted(listing, key=lambda e: e.name)
    for entry in found:
        rel = f"{prefix}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if entry.name != "__pycache__":
                yield from _source_stats(entry.path, rel)
        elif entry.name.endswith(".py"):
            yield rel, entry.stat(follow_symlinks=False)
