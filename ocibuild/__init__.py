"""ocibuild: a daemonless, Docker-compatible OCI image builder.

The public API is :func:`build` (see :mod:`ocibuild.api`), its result
:class:`BuildResult` and the error tree of :mod:`ocibuild.errors`.  Names are
loaded on first use, so ``import ocibuild`` stays cheap (the CLI's ``--help``
does not pay for the parser, the store or zstandard).
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names
from ocibuild.errors import (
    ContextError,
    DigestMismatch,
    DockerfileError,
    OcibuildError,
    RegistryError,
    SourceSpan,
    StepFailed,
    StoreError,
    UserError,
)

if _typing.TYPE_CHECKING:
    from ocibuild.api import build
    from ocibuild.executor.options import BuildResult

__all__ = [
    "BuildResult",
    "ContextError",
    "DigestMismatch",
    "DockerfileError",
    "OcibuildError",
    "RegistryError",
    "SourceSpan",
    "StepFailed",
    "StoreError",
    "UserError",
    "build",
]

_LAZY = {"BuildResult": "ocibuild.executor.options", "build": "ocibuild.api"}

__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
