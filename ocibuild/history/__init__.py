"""``ocibuild history``: an image's history entries as ``docker history`` shows them.

:mod:`ocibuild.history.items` reads them from the store (one
:class:`HistoryItem` per history entry, newest first, with the size of the
layer each one made as Docker counts it); :mod:`ocibuild.history.render`
turns items into lines (the table, ``-q``, ``-H``, ``--no-trunc`` and
``--format`` templates) without any I/O.
"""

from __future__ import annotations

from ocibuild.history.items import MISSING, HistoryItem, content_size, image_history
from ocibuild.history.render import HistoryView, TemplateError, render_history

__all__ = [
    "MISSING",
    "HistoryItem",
    "HistoryView",
    "TemplateError",
    "content_size",
    "image_history",
    "render_history",
]
