"""Dockerfile text -> typed instructions.

``parse(text, path="Dockerfile") -> Dockerfile`` is the entry point; the
instruction types live in :mod:`ocibuild.dockerfile.instructions`.  Modules:
``syntax`` (lexer: directives, continuations, heredoc bodies), ``words``
(line-level splitting), ``flags``, ``duration``, ``heredoc``, ``parse``
(nodes -> instructions); ``expand`` and ``ignore`` are separate concerns.
"""

from ocibuild.dockerfile.instructions import Dockerfile
from ocibuild.dockerfile.parse import parse

__all__ = ["Dockerfile", "parse"]
