"""The build executor: a planned ``BuildGraph`` + a build context -> an image in the store.

Public names: :func:`execute`, :class:`BuildOptions`, :class:`BuildResult`,
:class:`BuildContext`.  The modules: ``executor`` (the walk), ``base``
(where a stage starts), ``config_steps`` / ``copy_step`` (the step
handlers), ``copy`` / ``add`` / ``upper`` / ``layers`` (making a layer),
``sources`` / ``context`` / ``named`` (where files come from), ``users``,
``history`` and ``state``.
"""

from __future__ import annotations

from ocibuild.executor.context import BuildContext
from ocibuild.executor.executor import execute
from ocibuild.executor.options import BuildOptions, BuildResult

__all__ = ["BuildContext", "BuildOptions", "BuildResult", "execute"]
