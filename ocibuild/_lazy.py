"""Public names imported on first use (PEP 562), for package ``__init__``s.

A package lists which module holds each public name and binds the pair this
returns as its module ``__getattr__`` and ``__dir__``; ``import ocibuild``
and the CLI's start-up then pay only for what a command uses.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["lazy_names"]


def lazy_names(
    package: str, modules: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``modules`` maps a name to
    the module that defines it; a name, once loaded, is cached in the package."""
    namespace = sys.modules[package].__dict__
    listed = tuple(public)

    def getattr_(name: str) -> object:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *listed})

    return getattr_, dir_
