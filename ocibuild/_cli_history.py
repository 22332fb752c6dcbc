"""``ocibuild history IMAGE``: docker history's flags, read from the store.

The handler finds the image (:func:`ocibuild._cli_store.find_image`), reads
its entries with :func:`ocibuild.history.image_history` and renders them
with :func:`ocibuild.history.render_history`; both are imported only when
the command runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ocibuild._cli_store import Outcome, find_image, store_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["COMMANDS", "PARSERS", "parse_bool"]

_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})


def parse_bool(text: str) -> bool:
    """A Go ``strconv.ParseBool`` word (``-H=false``), case-insensitive."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (write -H=true or -H=false)")


def _cmd_history(ns: argparse.Namespace) -> Outcome:
    from ocibuild.history import HistoryView, image_history, render_history

    store = store_of(ns)
    image = store.image(find_image(store, ns.image))
    view = HistoryView(
        trunc=not ns.no_trunc, human=ns.human, quiet=ns.quiet, format=ns.format or ""
    )
    return Outcome(out=tuple(render_history(image_history(store, image), view)))


def _add_history(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "history",
        parents=[parent],
        help="show the history of an image",
        description="Show the history of an image, newest step first, as docker history.",
    )
    p.add_argument("image", metavar="IMAGE", help="an image name or ID")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument(
        "-H",
        "--human",
        type=parse_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="true|false",
        help="print sizes and dates in human readable format (default: true)",
    )
    p.add_argument(
        "--format",
        metavar="FORMAT",
        help="table, table TEMPLATE, json or TEMPLATE "
        "({{.ID}} {{.CreatedSince}} {{.CreatedAt}} {{.CreatedBy}} {{.Size}} {{.Comment}})",
    )
    p.set_defaults(handler=_cmd_history)


PARSERS: tuple[Callable[[SubParsers, argparse.ArgumentParser], None], ...] = (_add_history,)
COMMANDS = frozenset({"history"})
