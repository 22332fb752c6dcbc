"""RUN output of stages built at once: whole lines, each prefixed with its step.

When stages run concurrently their RUN output would interleave mid-line.
:class:`SharedSink` serialises writes to the caller's sink; each step gets a
:class:`StepOutput` that buffers its own chunks and forwards complete lines
only, as ``[stage-1 3/5] line`` (the stage's name when it has one, else
``stage-<index>``; the step's position among the stage's instructions,
ONBUILD triggers included).  :meth:`StepOutput.close` flushes a last
unterminated line with a newline.  Deciding *whether* to prefix is the
executor's (only when more than one stage can run at once).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SharedSink", "StepOutput", "step_label"]


def step_label(name: str | None, index: int, step: int, steps: int) -> str:
    """``[build 2/4]`` or, for an unnamed stage, ``[stage-1 2/4]``."""
    return f"[{name or f'stage-{index}'} {step}/{steps}]"


class SharedSink:
    """The caller's output sink, written to by one thread at a time."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._sink(data)


class StepOutput:
    """One step's output sink: complete lines, prefixed, go to a :class:`SharedSink`."""

    def __init__(self, shared: SharedSink, label: str) -> None:
        self._shared = shared
        self._prefix = label.encode() + b" "
        self._pending = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self._pending += chunk
        end = self._pending.rfind(b"\n")
        if end < 0:
            return
        lines = bytes(self._pending[: end + 1])
        del self._pending[: end + 1]
        self._shared.write(self._prefixed(lines))

    def close(self) -> None:
        """Forward what is left (a last line without a newline) and end it."""
        if self._pending:
            rest = bytes(self._pending) + b"\n"
            self._pending.clear()
            self._shared.write(self._prefixed(rest))

    def _prefixed(self, lines: bytes) -> bytes:
        return b"".join(self._prefix + line for line in lines.splitlines(keepends=True))
