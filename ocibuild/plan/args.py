"""Build arguments: the predefined platform ARGs, proxy ARGs and ARG scoping.

This module owns the rules for what value an ``ARG`` gets: a ``--build-arg``
wins, then the declaration's default, then (for a stage ARG with no default)
the global value of the same name.  Expanding defaults is the caller's job
(global defaults here, stage defaults in the executor, where ENV is known).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild.dockerfile.expand import process_word
from ocibuild.errors import at

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ocibuild.dockerfile.instructions import Arg
    from ocibuild.oci import Platform

__all__ = ["PROXY_ARGS", "global_scope", "predefined_args", "resolve_arg"]

PROXY_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


def predefined_args(target_platform: Platform, build_platform: Platform) -> dict[str, str]:
    """``TARGETPLATFORM``, ``TARGETOS`` ... ``BUILDVARIANT`` for these platforms."""
    args: dict[str, str] = {}
    for prefix, platform in (("TARGET", target_platform), ("BUILD", build_platform)):
        args[prefix + "PLATFORM"] = str(platform)
        args[prefix + "OS"] = platform.os
        args[prefix + "ARCH"] = platform.architecture
        args[prefix + "VARIANT"] = platform.variant
    return args


def resolve_arg(
    name: str,
    default: str | None,
    *,
    build_args: Mapping[str, str],
    outer: Mapping[str, str],
) -> str | None:
    """The value of ``ARG name[=default]``; None when it stays unset.

    ``default`` must already be expanded; ``outer`` is the scope a stage ARG
    without a default inherits from (the global ARGs and predefined ARGs).
    """
    if name in build_args:
        return build_args[name]
    if default is not None:
        return default
    return outer.get(name)


def global_scope(
    args: Iterable[Arg],
    *,
    build_args: Mapping[str, str],
    predefined: Mapping[str, str],
    escape: str = "\\",
) -> dict[str, str]:
    """The ARGs usable in FROM lines: predefined ones plus those declared before FROM.

    Each default is expanded with the scope built so far, as BuildKit does.
    """
    scope = dict(predefined)
    for instr in args:
        with at(instr.span):
            for decl in instr.args:
                default = (
                    None if decl.default is None else process_word(decl.default, scope, escape)
                )
                value = resolve_arg(decl.name, default, build_args=build_args, outer={})
                if value is None:
                    scope.pop(decl.name, None)
                else:
                    scope[decl.name] = value
    return scope
