"""ocibuild: a daemonless, Docker-compatible OCI image builder.

The public API is :func:`build` (see :mod:`ocibuild.api`), its result
:class:`BuildResult` and the error tree of :mod:`ocibuild.errors`.  Names are
loaded on first use, so ``import ocibuild`` stays cheap (the CLI's ``--help``
does not pay for the parser, the store or zstandard).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from ocibuild.api import build
    from ocibuild.build.options import BuildResult

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

_LAZY = {"build": "ocibuild.api", "BuildResult": "ocibuild.build.options"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ocibuild' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
