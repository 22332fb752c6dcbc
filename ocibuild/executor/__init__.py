"""The build executor: a planned ``BuildGraph`` + a build context -> an image in the store.

Public names: :func:`execute`, :class:`BuildOptions`, :class:`BuildResult`,
:class:`BuildContext`, loaded on first use (an unchanged rebuild,
:mod:`.unchanged`, needs none of the walk's modules).  The modules:
``executor`` (the walk), ``base`` (where a stage starts), ``config_steps`` /
``copy_step`` (the step handlers), ``copy`` / ``add`` / ``upper`` /
``layers`` (making a layer), ``sources`` / ``context`` / ``named`` (where
files come from), ``users``, ``history``, ``state`` and ``unchanged``.
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names

if _typing.TYPE_CHECKING:
    from ocibuild.executor.context import BuildContext
    from ocibuild.executor.executor import execute
    from ocibuild.executor.options import BuildOptions, BuildResult

__all__ = ["BuildContext", "BuildOptions", "BuildResult", "execute"]

_LAZY = {
    "BuildContext": "ocibuild.executor.context",
    "BuildOptions": "ocibuild.executor.options",
    "BuildResult": "ocibuild.executor.options",
    "execute": "ocibuild.executor.executor",
}

__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
