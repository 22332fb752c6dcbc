"""``docker history``'s output from :class:`~ocibuild.history.items.HistoryItem`\\ s (pure).

What docker's CLI (20.10) does, with the same flags:

* the default table: ``IMAGE  CREATED  CREATED BY  SIZE  COMMENT``, Go's
  tabwriter (cells padded by 3, at least 10 wide); ``-H=false`` shows
  ``CREATED AT`` with RFC 3339 times (local zone) and sizes in bytes;
* truncation (unless ``--no-trunc``): IDs to 12 hex digits, ``CREATED BY``
  to 45 characters ending in ``…``;
* ``-q``: the IDs alone (only with the table format, as docker);
* ``--format``: ``table``, ``table TEMPLATE``, ``json`` (one object a line,
  as newer docker CLIs) or a plain ``TEMPLATE``; templates take the
  placeholders ``{{.ID}}``, ``{{.CreatedSince}}``, ``{{.CreatedAt}}``,
  ``{{.CreatedBy}}``, ``{{.Size}}`` and ``{{.Comment}}``, and ``\\t``/``\\n``
  written as two characters mean a tab/newline.  Other template actions are
  a :class:`TemplateError`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING

from ocibuild._record import field, record
from ocibuild._units import human_duration, human_size
from ocibuild.errors import UserError
from ocibuild.history.items import MISSING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ocibuild.history.items import HistoryItem

__all__ = ["HistoryView", "TemplateError", "render_history"]

DEFAULT_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
CREATED_BY_WIDTH = 45
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_MIN_WIDTH, _PADDING = 10, 3


class TemplateError(UserError):
    """A ``--format`` template uses something other than the known placeholders."""


@record
class HistoryView:
    """How to show a history: docker's ``--no-trunc``, ``-H``, ``-q``, ``--format``.

    ``now`` is the time ages are counted from (default: the current time).
    """

    trunc: bool = True
    human: bool = True
    quiet: bool = False
    format: str = ""
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def render_history(items: Sequence[HistoryItem], view: HistoryView) -> list[str]:
    """The lines ``docker history`` prints for ``items`` (newest first) under ``view``."""
    source = view.format or "table"
    if source == "table":
        source = "{{.ID}}" if view.quiet else DEFAULT_TABLE
    if source == "json":
        return [json.dumps(_fields(item, view), sort_keys=True) for item in items]
    if source.startswith("table"):
        return _table(_template(source.removeprefix("table")), items, view)
    template = _template(source)
    return [template(_fields(item, view).__getitem__) for item in items]


def _template(source: str) -> Callable[[Callable[[str], str]], str]:
    """Compile ``source`` into a function of a field getter."""
    text = source.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    pieces: list[tuple[bool, str]] = []
    position = 0
    for match in _ACTION.finditer(text):
        pieces.append((False, text[position : match.start()]))
        action = match.group(1)
        name = action.removeprefix(".")
        if not action.startswith(".") or name not in _HEADERS:
            raise TemplateError(
                f"template parsing error: cannot evaluate {{{{{action}}}}}: "
                "use .ID, .CreatedSince, .CreatedAt, .CreatedBy, .Size or .Comment"
            )
        pieces.append((True, name))
        position = match.end()
    pieces.append((False, text[position:]))

    def render(get: Callable[[str], str]) -> str:
        return "".join(get(value) if is_field else value for is_field, value in pieces)

    return render


_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def _table(
    template: Callable[[Callable[[str], str]], str], items: Sequence[HistoryItem], view: HistoryView
) -> list[str]:
    headers = dict(_HEADERS, CreatedSince="CREATED" if view.human else "CREATED AT")
    rows = [template(headers.__getitem__)]
    rows += [template(_fields(item, view).__getitem__) for item in items]
    return tabwrite([line for row in rows for line in row.split("\n")])


def tabwrite(lines: Sequence[str]) -> list[str]:
    """Align tab-separated cells as Go's ``tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)``
    does for docker's tables (a line's last cell is not padded); trailing blanks go."""
    split = [line.split("\t") for line in lines]
    columns = max((len(cells) - 1 for cells in split), default=0)
    widths = [
        max(_MIN_WIDTH, *(len(cells[i]) + _PADDING for cells in split if len(cells) - 1 > i))
        for i in range(columns)
    ]
    out = []
    for cells in split:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        out.append(("".join(padded) + cells[-1]).rstrip())
    return out


def _fields(item: HistoryItem, view: HistoryView) -> dict[str, str]:
    created_at = _rfc3339(item.created)
    return {
        "ID": _short_id(item.image_id) if view.trunc else item.image_id,
        "CreatedSince": _since(item.created, view.now) if view.human else created_at,
        "CreatedAt": created_at,
        "CreatedBy": _created_by(item.created_by, view.trunc),
        "Size": human_size(item.size) if view.human else str(item.size),
        "Comment": item.comment,
    }


def _short_id(image_id: str) -> str:
    return image_id if image_id == MISSING else image_id.removeprefix("sha256:")[:12]


def _created_by(text: str, trunc: bool) -> str:
    text = text.replace("\t", " ")
    if trunc and len(text) > CREATED_BY_WIDTH:
        return text[: CREATED_BY_WIDTH - 1] + "…"
    return text


def _parse(created: str) -> dt.datetime | None:
    """An RFC 3339 time, to the second (as the daemon sends it), or None."""
    if not created:
        return None
    head = created.replace("z", "Z").replace("Z", "+00:00")
    head = re.sub(r"\.\d+", "", head)
    try:
        return dt.datetime.fromisoformat(head)
    except ValueError:
        return None


def _rfc3339(created: str) -> str:
    """Go's ``time.Unix(t).Format(time.RFC3339)``: local zone, ``Z`` for UTC."""
    when = _parse(created)
    if when is None:
        return ""
    local = when.astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    offset = local.utcoffset()
    if not offset:
        return text + "Z"
    zone = local.strftime("%z")
    return f"{text}{zone[:3]}:{zone[3:]}"


def _since(created: str, now: dt.datetime) -> str:
    when = _parse(created)
    if when is None:
        return "N/A"
    return human_duration(max(0.0, (now - when).total_seconds())) + " ago"
