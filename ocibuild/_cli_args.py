"""Turn ``ocibuild build``'s parsed flags into typed values for :func:`ocibuild.api.build`.

Owns docker build's small flag languages: ``--build-arg KEY[=VALUE]`` (a bare
KEY takes its value from the environment, and is dropped when unset, as
BuildKit does), ``--label``, ``--build-context NAME=VALUE``, ``--secret``
(``id=...,src=...|env=...``) and ``-f -`` (the Dockerfile on stdin).  Output
specs are parsed by :mod:`ocibuild.export.outputs`.  Mistakes raise
:class:`UsageError`, a :class:`~ocibuild.errors.UserError`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.errors import UserError
from ocibuild.export.outputs import OutputSpec, parse_output

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

__all__ = [
    "BuildArgs",
    "SecretSpec",
    "UsageError",
    "parse_build_args",
    "parse_print",
    "parse_secret",
]

_NETWORKS = frozenset({"default", "none", "host"})


class UsageError(UserError):
    """A flag's value is malformed (``--build-arg =x``, ``--secret src=f``...)."""


@record
class SecretSpec:
    """One ``--secret``: its id and where its value comes from (a file or a variable)."""

    id: str
    src: str | None = None
    env: str | None = None


@record
class BuildArgs:
    """Everything ``ocibuild build`` was asked for, checked and typed."""

    context: str
    dockerfile: str | None
    dockerfile_text: str | None
    tags: tuple[str, ...]
    build_args: dict[str, str]
    labels: dict[str, str]
    build_contexts: dict[str, str]
    outputs: tuple[OutputSpec, ...]
    secrets: tuple[SecretSpec, ...]
    target: str | None
    platform: str | None
    network: str | None
    runtime: str
    no_cache: bool
    no_cache_filter: tuple[str, ...]
    pull: bool
    quiet: bool
    progress: str
    compression: str
    iidfile: str | None
    metadata_file: str | None
    cache_to: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    jobs: int | None = None
    push: bool = False
    insecure_registries: tuple[str, ...] = ()
    print_graph: str | None = None


def parse_build_args(ns: argparse.Namespace, environ: Mapping[str, str]) -> BuildArgs:
    """Check and type the flags of ``ocibuild build``."""
    if ns.file == "-" and ns.context == "-":
        raise UsageError("cannot read both the Dockerfile and the build context from stdin")
    if ns.network is not None and ns.network not in _NETWORKS:
        raise UsageError(f"invalid --network {ns.network!r}: expected default, none or host")
    if ns.jobs is not None and ns.jobs < 1:
        raise UsageError(f"invalid --jobs {ns.jobs}: expected at least 1")
    text = sys.stdin.read() if ns.file == "-" else None
    return BuildArgs(
        context=ns.context,
        dockerfile=None if ns.file == "-" else ns.file,
        dockerfile_text=text,
        tags=tuple(ns.tag),
        build_args=parse_build_arg_list(ns.build_arg, environ),
        labels=_pairs(ns.label, "--label", value_required=False),
        build_contexts=_pairs(ns.build_context, "--build-context", value_required=True),
        outputs=tuple(parse_output(o) for o in ns.output),
        secrets=tuple(parse_secret(s) for s in ns.secret),
        target=ns.target,
        platform=ns.platform,
        network=ns.network,
        runtime=ns.runtime,
        no_cache=ns.no_cache,
        no_cache_filter=tuple(ns.no_cache_filter),
        pull=ns.pull,
        quiet=ns.quiet or ns.progress == "quiet",
        progress="quiet" if ns.quiet else ns.progress,
        compression=ns.compression,
        iidfile=ns.iidfile,
        metadata_file=ns.metadata_file,
        cache_to=tuple(ns.cache_to),
        cache_from=tuple(ns.cache_from),
        jobs=ns.jobs,
        push=ns.push,
        insecure_registries=tuple(ns.insecure_registry),
        print_graph=parse_print(getattr(ns, "print", None)),
    )


def parse_print(value: str | None) -> str | None:
    """``--print graph[=dot|mermaid]``: the graph style (None: no ``--print``)."""
    if value is None:
        return None
    what, sep, style = value.partition("=")
    if what != "graph" or (sep and style not in ("dot", "mermaid")):
        raise UsageError(f"invalid --print {value!r}: expected graph, graph=dot or graph=mermaid")
    return style or "dot"


def parse_build_arg_list(items: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``KEY=VALUE`` items; a bare ``KEY`` takes ``environ[KEY]`` or is dropped."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}: expected KEY=VALUE")
        if sep:
            out[key] = value
        elif key in environ:
            out[key] = environ[key]
    return out


def _pairs(items: list[str], flag: str, *, value_required: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or (value_required and not (sep and value)):
            raise UsageError(f"invalid {flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def parse_secret(text: str) -> SecretSpec:
    """``id=ID[,type=file|env][,src=PATH|source=PATH][,env=VAR]`` as docker build takes it."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise UsageError(f"invalid --secret {text!r}: expected key=value fields")
        fields[key.strip().lower()] = value
    secret_id = fields.pop("id", None)
    kind = fields.pop("type", None)
    src = fields.pop("src", None) or fields.pop("source", None)
    env = fields.pop("env", None)
    if fields:
        raise UsageError(f"invalid --secret {text!r}: unknown field {sorted(fields)[0]!r}")
    if kind not in (None, "file", "env"):
        raise UsageError(f"invalid --secret {text!r}: type must be file or env")
    if secret_id is None:
        raise UsageError(f"invalid --secret {text!r}: id is required")
    if kind == "env" and env is None:
        env, src = src or secret_id, None
    if kind == "file" and src is None:
        raise UsageError(f"invalid --secret {text!r}: src is required for type=file")
    if src is None and env is None:
        env = secret_id  # BuildKit: a bare id names a variable (or a file of that name)
    return SecretSpec(id=secret_id, src=src, env=env)
