"""The threads that build stages: one per running stage, results back on one queue.

The executor starts a stage with :meth:`StageThreads.start` when the
schedule says it is ready and it has a free job slot, and takes finished
stages (or the first error) from :meth:`StageThreads.next` in the order
they finish.  :meth:`StageThreads.join` waits for every thread, polling so
that the caller can keep stopping RUN steps meanwhile.

This stands in for ``concurrent.futures.ThreadPoolExecutor``: the executor
needs none of its futures machinery, and importing it (with ``logging``,
``traceback`` and ``tokenize`` behind it) cost a cache-hit build about 6 ms
of its start-up (docs/performance.md).
"""

from __future__ import annotations

import threading
from queue import SimpleQueue
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["StageThreads"]

_T = TypeVar("_T")


class StageThreads(Generic[_T]):
    """Stage threads by stage index; each puts ``(index, result, error)`` on the queue."""

    def __init__(self) -> None:
        self._done: SimpleQueue[tuple[int, _T | None, BaseException | None]] = SimpleQueue()
        self._threads: dict[int, threading.Thread] = {}

    def running(self) -> set[int]:
        """Stages started whose result has not been taken by :meth:`next`."""
        return set(self._threads)

    def start(self, index: int, work: Callable[[], _T]) -> None:
        """Run ``work`` for stage ``index`` in a new thread."""
        thread = threading.Thread(
            target=self._body, args=(index, work), name=f"ocibuild-stage-{index}"
        )
        self._threads[index] = thread
        thread.start()

    def _body(self, index: int, work: Callable[[], _T]) -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the coordinating thread, which raises it
            self._done.put((index, None, exc))
        else:
            self._done.put((index, result, None))

    def next(self) -> tuple[int, _T]:
        """The next stage to finish and its result; raises the error of a failed stage."""
        index, result, error = self._done.get()
        self._threads.pop(index).join()
        if error is not None:
            raise error
        return index, result  # type: ignore[return-value]  # None only with an error

    def join(self, poll: float, between: Callable[[], None]) -> None:
        """Wait for every started thread, calling ``between`` every ``poll`` seconds."""
        for thread in self._threads.values():
            while thread.is_alive():
                thread.join(poll)
                between()
        self._threads.clear()
