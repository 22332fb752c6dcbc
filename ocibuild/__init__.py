"""ocibuild: a daemonless, Docker-compatible OCI image builder.

The public API is :func:`build` (see :mod:`ocibuild.api`), its result
:class:`BuildResult` and the error tree of :mod:`ocibuild.errors`.  Names are
loaded on first use, so ``import ocibuild`` stays cheap (the CLI's ``--help``
does not pay for the parser, the store or zstandard).
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import types as _types
import typing as _typing

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

_LAZY = {"BuildResult": "ocibuild.build.options"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ocibuild' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(_types.ModuleType):
    """``ocibuild.build`` is the function, although a subpackage has the same name.

    Importing ``ocibuild.build.*`` makes the import system set the package's
    ``build`` attribute to the subpackage; this property keeps the function
    (``from ocibuild.build import execute`` still finds the subpackage in
    ``sys.modules``).
    """

    @property
    def build(self) -> object:
        from ocibuild.api import build

        return build

    @build.setter
    def build(self, value: object) -> None:
        pass  # the subpackage being registered: the function stays


_sys.modules[__name__].__class__ = _Package
