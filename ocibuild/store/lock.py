"""The store's writer lock: an exclusive ``flock`` on ``ocibuild/lock``.

Re-entrant within a process: nested ``with store.lock():`` blocks (also from
different :class:`~ocibuild.store.Store` objects on the same root) share one
flock; other threads wait on a process-wide :class:`threading.RLock`.  Other
processes wait on the flock itself.  A lock held across ``fork`` is not
inherited usefully; take it in the process that needs it.

:func:`in_use` and :func:`gc_exclusive` are a second flock, on
``ocibuild/gc.lock``: builds, pulls and loads share it while their blobs are
not yet referenced; gc takes it alone.

:func:`shared_lock` is for readers that need the store to hold still for a
moment (``fsck`` while it follows references): a shared ``flock`` that
writers wait for, and that waits for them; inside a process that already
holds the exclusive lock it is a no-op.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import TYPE_CHECKING

from ocibuild._record import field, record
from ocibuild.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

__all__ = ["StoreLockedError", "gc_exclusive", "in_use", "shared_lock", "store_lock"]


class StoreLockedError(StoreError):
    """Another process holds the store lock and we were asked not to wait."""


@record(frozen=False)
class _State:
    """This process's hold on the lock file at one path.

    ``rlock``/``depth``/``fd``: the exclusive flock (:func:`store_lock`);
    ``users_guard``/``users``/``users_fd``: the shared one of :func:`in_use`,
    one flock for all of this process's holders, counted.
    """

    rlock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    fd: int = -1
    users_guard: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    users_fd: int = -1


_STATES: dict[str, _State] = {}
_GUARD = threading.Lock()


def _state_for(path: Path) -> _State:
    key = os.path.realpath(path)
    with _GUARD:
        return _STATES.setdefault(key, _State())


@contextlib.contextmanager
def store_lock(path: Path, *, blocking: bool = True) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the ``with`` block."""
    state = _state_for(path)
    if not state.rlock.acquire(blocking=blocking):
        raise StoreLockedError(f"store is locked: {path}")
    try:
        if state.depth == 0:
            state.fd = _take_flock(path, blocking)
        state.depth += 1
        try:
            yield
        finally:
            state.depth -= 1
            if state.depth == 0:
                os.close(state.fd)
                state.fd = -1
    finally:
        state.rlock.release()


def _take_flock(path: Path, blocking: bool) -> int:
    try:
        return _flock(path, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        raise StoreLockedError(f"store is locked by another process: {path}") from None


@contextlib.contextmanager
def in_use(path: Path) -> Iterator[None]:
    """Keep gc out for the ``with`` block: a shared flock on ``path``.

    Builds, pulls, loads and pushes hold it from before they find or write a
    blob until it is named by a tag, record or pin (or no longer needed), so
    gc, which takes the flock exclusively (:func:`gc_exclusive`), waits for
    them and they for it.  Any number of holders at once, in this process
    (one flock, counted) and in others.
    """
    state = _state_for(path)
    with state.users_guard:
        if state.users == 0:
            state.users_fd = _flock(path, fcntl.LOCK_SH)
        state.users += 1
    try:
        yield
    finally:
        with state.users_guard:
            state.users -= 1
            if state.users == 0:
                os.close(state.users_fd)
                state.users_fd = -1


@contextlib.contextmanager
def gc_exclusive(
    path: Path, store_lock_path: Path, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """The exclusive side of :func:`in_use`: wait until no build, pull or load runs.

    Re-entrant in a thread (it is :func:`store_lock` on ``path``).  Take it
    before the store lock (``store_lock_path``), never while holding that: a
    build waits for the store lock while it holds :func:`in_use`.  When it
    has to wait, ``on_wait`` is called first (prune says so on stderr).
    """
    if _state_for(path).users:
        raise StoreError("cannot collect garbage while this process is building or pulling")
    if _state_for(path).depth == 0 and _state_for(store_lock_path).depth:
        raise AssertionError("the gc lock must be taken before the store lock")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(store_lock(path, blocking=False))
        except StoreLockedError:
            if on_wait is not None:
                on_wait()
            stack.enter_context(store_lock(path))
        yield


def _flock(path: Path, how: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, how)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def shared_lock(path: Path) -> Iterator[None]:
    """Hold a shared lock at ``path`` (writers wait; so do we, for them).

    Does nothing when ``path`` does not exist (no store writer ever ran) or
    when this process already holds the exclusive lock there.
    """
    state = _state_for(path)
    with state.rlock:
        if state.depth > 0:
            yield
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)
