"""What one reliability trial is and what it reports (shared by every trials module).

A *trial* tries one attack or fault (a hostile archive, a kill -9 in the
middle of a push, two builds racing on one store...) ``tries`` times in a
scratch directory and says what happened.  ``reliability/run.py`` runs every
trial of the modules it lists and writes the table of docs/reliability.md.

A trial ``holds`` when ocibuild did what it must (refused the input with a
one-line error, left a store that ``ocibuild fsck`` calls clean, read or
wrote nothing outside where it belongs, ...); ``what_happened`` says it in a
few words either way, for the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from reliability.env import Env

__all__ = ["Result", "Trial"]


@dataclass(frozen=True, slots=True)
class Result:
    """How many times it was tried, how many held, and what happened (one line)."""

    tries: int
    held: int
    what_happened: str

    @property
    def ok(self) -> bool:
        return self.tries > 0 and self.held == self.tries


@dataclass(frozen=True, slots=True)
class Trial:
    """One attack or fault: a table category, a one-line description, and how to run it.

    ``run(env, tries)`` performs the trial ``tries`` times (a trial may ignore
    ``tries`` when one attempt is all there is) and returns the result.
    """

    #: "hostile input", "fuzzing", "crash", "full disk", "concurrency", "sandbox", "rootless"
    category: str
    attack: str
    run: Callable[[Env, int], Result]
    default_tries: int = 1
