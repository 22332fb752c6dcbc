"""Checking a store for damage: what ``ocibuild fsck`` reports.

:func:`fsck` reads a store and lists every :class:`Problem`; it changes
nothing.  It checks:

* the layout: ``oci-layout`` and ``index.json`` parse (the index's entries
  are valid descriptors);
* every blob: stream-hashed, its content must hash to its file name (a file
  whose name is not a digest is itself a problem);
* every reference: from each ``index.json`` entry and each gc root
  (``ocibuild/roots/*.json``), the manifests, indexes, configs and layers it
  reaches exist with the descriptor's size and digest, and parse;
* every cache record (``cache.db``): ``PRAGMA integrity_check`` is ``ok``,
  each record parses and its layer blob exists with its size;
* the snapshots, temp files and half-made cache mounts
  (:mod:`ocibuild.store.fsck_scratch`).

Leftovers of a process that is gone (a killed build's gc pin, temp dirs and
temp files) are *stale*, not corrupt: the next build or ``prune`` sweeps
them.  A report is clean when it has no problem other than stale ones.

Locking: blobs are hashed without any lock (they are only ever renamed into
place or deleted whole, so a blob that vanishes meanwhile is skipped).  The
references, roots and cache records are read under a *shared* flock on
``ocibuild/lock`` (:func:`~ocibuild.store.lock.shared_lock`), held only
while small manifests are read and files are stat'ed: ``tag`` and ``gc``
wait for that moment, blob writes and RUN steps never do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ocibuild._record import record
from ocibuild.errors import UserError
from ocibuild.oci import Descriptor, Digest, ImageConfig, Index, Manifest, mediatypes
from ocibuild.store import fsck_scratch
from ocibuild.store.fsck_cache import check_cache
from ocibuild.store.fsck_problem import Problem, rel, why
from ocibuild.store.lock import shared_lock
from ocibuild.store.scratch import PIN_PREFIX, owner_alive

__all__ = ["FsckReport", "Problem", "fsck"]

_CONFIGS = frozenset({mediatypes.OCI_CONFIG, mediatypes.DOCKER_CONFIG})
_OPTIONAL = frozenset(
    {
        mediatypes.OCI_LAYER_NONDIST,
        mediatypes.OCI_LAYER_NONDIST_GZIP,
        mediatypes.OCI_LAYER_NONDIST_ZSTD,
        mediatypes.DOCKER_FOREIGN_LAYER,
    }
)


@record
class FsckReport:
    """Every problem found, and how many things of each kind were checked."""

    problems: tuple[Problem, ...]
    checked: tuple[tuple[str, int], ...]

    @property
    def clean(self) -> bool:
        """No problem other than stale leftovers."""
        return all(p.stale for p in self.problems)

    def summary(self) -> str:
        """``checked 12 blobs, 2 refs, ...: 1 problem, 1 stale``."""
        counts = ", ".join(f"{n} {what}" for what, n in self.checked)
        bad = sum(not p.stale for p in self.problems)
        stale = len(self.problems) - bad
        verdict = "clean" if bad == 0 else f"{bad} problem{'s' if bad != 1 else ''}"
        return f"checked {counts}: {verdict}" + (f", {stale} stale" if stale else "")

    def to_json(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "problems": [p.to_json() for p in self.problems],
            "checked": dict(self.checked),
        }


def fsck(root: Path) -> FsckReport:
    """Check the store at ``root`` without changing it.

    Must not be called while another thread of this process holds
    ``store.lock()`` (this thread may: the shared lock is then skipped).
    """
    root = Path(root)
    found: list[Problem] = []
    index = _check_layout(root, found)
    blobs = _check_blobs(root / "blobs", found)
    walk = _Walk(root / "blobs", blobs, found)
    meta = root / "ocibuild"
    with shared_lock(meta / "lock"):
        for entry in index.manifests if index is not None else ():
            walk.visit(entry, _entry_label(entry))
        roots = _check_roots(meta / "roots", walk, found)
        records = check_cache(meta / "cache.db", walk.size_of, found)
    snapshots = fsck_scratch.check_snapshots(meta / "snapshots", found)
    fsck_scratch.check_tmp(meta / "tmp", found)
    fsck_scratch.check_cache_mounts(meta / "cache-mounts", found)
    checked = (
        ("blobs", len(blobs.sound) + len(blobs.bad)),
        ("refs", len(index.manifests) if index is not None else 0),
        ("gc roots", roots),
        ("cache records", records),
        ("snapshots", snapshots),
    )
    return FsckReport(tuple(found), checked)


# -- layout --------------------------------------------------------------------


def _check_layout(root: Path, found: list[Problem]) -> Index | None:
    try:
        layout = json.loads((root / "oci-layout").read_bytes())
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        if version != mediatypes.OCI_LAYOUT_VERSION:
            found.append(Problem("layout", "oci-layout", f"unsupported version {version!r}"))
    except (OSError, ValueError) as err:
        found.append(Problem("layout", "oci-layout", why(err)))
    try:
        return Index.from_json((root / "index.json").read_bytes())
    except (OSError, UserError) as err:
        found.append(Problem("layout", "index.json", why(err)))
        return None


# -- blobs -----------------------------------------------------------------------


@record
class _Blobs:
    """Blob files hashed: the sound ones with their sizes, and the bad ones."""

    sound: dict[Digest, int]
    bad: set[Digest]


def _check_blobs(blobs_dir: Path, found: list[Problem]) -> _Blobs:
    result = _Blobs({}, set())
    for algo_dir in sorted(_entries(blobs_dir)):
        if not algo_dir.is_dir():
            found.append(Problem("blob", rel(algo_dir), "not a directory of blobs"))
            continue
        for path in sorted(_entries(algo_dir)):
            _check_blob(path, result, found)
    return result


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


def _check_blob(path: Path, result: _Blobs, found: list[Problem]) -> None:
    name = f"{path.parent.name}:{path.name}"
    try:
        digest = Digest.parse(name)
    except UserError:
        found.append(Problem("blob", rel(path), "file name is not a digest"))
        return
    if path.is_symlink() or not path.is_file():
        found.append(Problem("blob", name, "not a regular file"))
        result.bad.add(digest)
        return
    try:
        actual, size = _hash_file(path, digest.algorithm)
    except FileNotFoundError:
        return  # deleted by gc meanwhile
    except OSError as err:
        found.append(Problem("blob", name, f"cannot read: {why(err)}"))
        result.bad.add(digest)
        return
    if actual != digest.hex:
        found.append(Problem("blob", name, f"content hashes to {digest.algorithm}:{actual}"))
        result.bad.add(digest)
    else:
        result.sound[digest] = size


def _hash_file(path: Path, algorithm: str) -> tuple[str, int]:
    hasher = hashlib.new(algorithm)
    size = 0
    with path.open("rb", buffering=0) as file:
        while chunk := file.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


# -- references --------------------------------------------------------------------


def _entry_label(entry: Descriptor) -> str:
    name = entry.annotation(mediatypes.REF_NAME_ANNOTATION)
    return name if name is not None else f"index.json entry {entry.digest}"


class _Walk:
    """Follows descriptors from the index and the gc roots, once each."""

    def __init__(self, blobs_dir: Path, blobs: _Blobs, found: list[Problem]) -> None:
        self._blobs_dir = blobs_dir
        self._blobs = blobs
        self._found = found
        self._present: dict[Digest, bool] = {}

    def size_of(self, digest: Digest) -> int | None:
        """The size of the blob file ``digest``, None if there is none."""
        path = self._blobs_dir / digest.algorithm / digest.hex
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return None

    def _check(self, descriptor: Descriptor, via: str) -> bool:
        """Whether the blob exists, sound, with the descriptor's size (else a problem)."""
        size = self.size_of(descriptor.digest)
        if size is None:
            if descriptor.media_type not in _OPTIONAL:
                self._problem(descriptor, via, "is missing")
            return False
        if size != descriptor.size:
            self._problem(
                descriptor, via, f"has {size} bytes, its descriptor says {descriptor.size}"
            )
            return False
        return descriptor.digest not in self._blobs.bad

    def _problem(self, descriptor: Descriptor, via: str, what: str) -> None:
        kind = _kind(descriptor.media_type)
        self._found.append(Problem("ref", via, f"{kind} {descriptor.digest} {what}"))

    def visit(self, descriptor: Descriptor, via: str) -> bool:
        """Check ``descriptor`` and all it reaches; whether its own blob is sound."""
        known = self._present.get(descriptor.digest)
        if known is not None:
            return known
        ok = self._present[descriptor.digest] = self._check(descriptor, via)
        kind = descriptor.media_type
        if ok and kind in mediatypes.INDEXES | mediatypes.MANIFESTS:
            self._follow(descriptor, via)
        return ok

    def _follow(self, descriptor: Descriptor, via: str) -> None:
        kind = descriptor.media_type
        data = self._read(descriptor)
        try:
            if kind in mediatypes.INDEXES:
                for child in Index.from_json(data).manifests:
                    self.visit(child, via)
            else:
                self._manifest(Manifest.from_json(data), via)
        except UserError as err:
            self._problem(descriptor, via, f"does not parse: {why(err)}")

    def _read(self, descriptor: Descriptor) -> bytes:
        path = self._blobs_dir / descriptor.digest.algorithm / descriptor.digest.hex
        return path.read_bytes()

    def _manifest(self, manifest: Manifest, via: str) -> None:
        for child in (*manifest.layers, *filter(None, (manifest.subject,))):
            self.visit(child, via)
        config = manifest.config
        if not self.visit(config, via) or config.media_type not in _CONFIGS:
            return
        try:
            image = ImageConfig.from_json(self._read(config))
        except UserError as err:
            self._problem(config, via, f"does not parse: {why(err)}")
            return
        if len(image.diff_ids) != len(manifest.layers):
            count = f"{len(image.diff_ids)} diff_ids for {len(manifest.layers)} layers"
            self._problem(config, via, count)


# -- gc roots ------------------------------------------------------------------------


def _check_roots(roots_dir: Path, walk: _Walk, found: list[Problem]) -> int:
    count = 0
    for path in sorted(roots_dir.glob("*.json")):
        count += 1
        if path.stem.startswith(PIN_PREFIX) and not owner_alive(path.stem, PIN_PREFIX):
            found.append(Problem("root", rel(path), "gc pin of a build that is gone", stale=True))
            continue
        for descriptor in _root_descriptors(path, found):
            walk.visit(descriptor, rel(path))
    return count


def _root_descriptors(path: Path, found: list[Problem]) -> list[Descriptor]:
    try:
        obj = json.loads(path.read_bytes())
        return [Descriptor.from_json(d) for d in obj["descriptors"]]
    except FileNotFoundError:
        return []  # removed by its build meanwhile
    except (OSError, ValueError, KeyError, TypeError, UserError) as err:
        found.append(Problem("root", rel(path), f"does not parse (gc would stop): {why(err)}"))
        return []


def _kind(media_type: str) -> str:
    if media_type in mediatypes.INDEXES:
        return "index"
    if media_type in mediatypes.MANIFESTS:
        return "manifest"
    if media_type in _CONFIGS:
        return "config"
    return "layer" if media_type in mediatypes.LAYERS else "blob"
