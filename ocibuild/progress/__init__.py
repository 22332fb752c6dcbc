"""Build progress: events (``events.py``), their producer (``report.py``) and renderers.

::

    events.py   StepStarted, StepCached, StepDone, StepFailed, OutputLine, Transfer
    report.py   Reporter (numbers steps), Step (one step's lifetime), Meter (bytes)
    plain.py    BuildKit's --progress=plain: one line per event
    tty.py      a live view with rich (imported only by this module, and only for tty)
    render.py   the CLI's modes: auto, tty, plain, quiet -> a renderer

The executor and the registry code emit events through one callable
(``BuildOptions.on_event``, ``ocibuild.build(on_event=...)``); the library
never prints.  The CLI picks a renderer here.  See docs/progress.md.
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names

if _typing.TYPE_CHECKING:
    from ocibuild.progress.events import (
        Event,
        OutputLine,
        StepCached,
        StepDone,
        StepFailed,
        StepStarted,
        Transfer,
        TransferKind,
    )

__all__ = [
    "Event",
    "OutputLine",
    "StepCached",
    "StepDone",
    "StepFailed",
    "StepStarted",
    "Transfer",
    "TransferKind",
]

# Names are imported on first use: a build nobody watches (``-q``) loads the
# step bookkeeping of report.py but never the event classes.
_MODULES = {name: "ocibuild.progress.events" for name in __all__}

__getattr__, __dir__ = _lazy_names(__name__, _MODULES, __all__)
