"""The ``ocibuild fsck`` command: check a store, print one line per problem.

The checking is :func:`ocibuild.store.fsck.fsck`'s; this module only prints
its report (plain lines and a summary, or ``--json``) and picks the exit
status: 0 when the store is clean (stale leftovers of dead processes are
listed but do not count), 1 when anything is damaged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._cli_store import Outcome
from ocibuild.errors import UserError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from ocibuild._cli_store import SubParsers

__all__ = ["COMMANDS", "PARSERS"]


class NoStoreError(UserError):
    """``fsck`` was pointed at a directory that holds no store."""


def _cmd_fsck(ns: argparse.Namespace) -> Outcome:
    import json

    from ocibuild.store import Store
    from ocibuild.store.fsck import fsck

    root = Path(ns.root or os.environ.get("OCIBUILD_ROOT") or Store.default_root())
    if not (root / "oci-layout").exists() and not (root / "index.json").exists():
        raise NoStoreError(f"no store at {root}")
    report = fsck(root)
    status = 0 if report.clean else 1
    if ns.json:
        return Outcome(status, (json.dumps(report.to_json(), indent=2, sort_keys=True),))
    lines = (*(str(problem) for problem in report.problems), report.summary())
    return Outcome(status, lines)


def _add_fsck(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "fsck",
        parents=[parent],
        help="check every blob, reference, snapshot and cache record of the store",
        description="Check the store without changing it: every blob's digest and size, "
        "every reference from index.json and the gc roots, the snapshots, the build cache "
        "database and the temp files.  Exit status 0 when it is clean (leftovers of killed "
        "processes are listed as stale: the next build or prune removes them), 1 when "
        "something is damaged.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_fsck)


PARSERS: tuple[Callable[[SubParsers, argparse.ArgumentParser], None], ...] = (_add_fsck,)
COMMANDS = frozenset({"fsck"})
