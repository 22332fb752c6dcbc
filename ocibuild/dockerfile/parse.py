"""Lexer nodes -> typed instructions: ``parse(text) -> Dockerfile``.

This is BuildKit's ``instructions`` package in Python: per instruction it
checks the argument count, which ``--flags`` are allowed (see
:mod:`ocibuild.dockerfile.flags`), HEALTHCHECK durations, ONBUILD triggers,
and that only ARG comes before the first FROM.  Words stay raw: variables and
quotes are left for :mod:`ocibuild.dockerfile.expand`.

Representation choices (also in ``docs/design/001-parser.md``):

* RUN/CMD/ENTRYPOINT shell form: ``Command((rest,), shell_form=True)`` where
  ``rest`` is the line after the flags, continuations joined; empty when the
  instruction has no arguments: ``Command((), True)`` (BuildKit accepts that).
* RUN with heredocs: ``command.args`` is the command line as written
  (``("cat <<EOF > /f",)``, or ``("<<EOF",)`` when the heredoc *is* the
  script); ``Run.heredocs`` holds the bodies in order of appearance.  Running
  them (as a script, or as the shell's stdin) is the executor's job, as in
  BuildKit's dispatcher.
* COPY/ADD heredoc sources: ``sources`` keeps the raw word (``<<EOF``,
  ``<<-"EOF"``) in its place among the paths; ``heredocs`` has one
  :class:`Heredoc` per such source, in source order, matched by name.  Use
  :func:`ocibuild.dockerfile.heredoc.parse_heredoc_word` on a source word to
  tell a heredoc from a path.  ``<<-`` bodies are already chomped.
* FROM ``AS name`` is lower-cased and checked as BuildKit does.
* HEALTHCHECK durations are nanoseconds; a flag given empty is None.
* ONBUILD ``expression`` is the trigger text; heredoc bodies of the trigger
  are appended (``"\\n" + body + NAME``) so it parses again in a child build.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NoReturn

from ocibuild.dockerfile.duration import parse_duration, parse_int32
from ocibuild.dockerfile.flags import (
    FlagError,
    FlagKind,
    FlagSpec,
    FlagValues,
    parse_flags,
    suggest,
)
from ocibuild.dockerfile.heredoc import chomp, parse_heredoc_word
from ocibuild.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    Command,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from ocibuild.dockerfile.syntax import Node, parse_nodes
from ocibuild.dockerfile.words import go_quote
from ocibuild.errors import DockerfileError, SourceSpan

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["INSTRUCTIONS", "parse"]

_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)
_MIN_INTERVAL = 1_000_000  # 1ms, Docker's container.MinimumDuration

S, B, L = FlagKind.STRING, FlagKind.BOOL, FlagKind.STRINGS
_RUN_FLAGS: FlagSpec = {"mount": L, "network": S, "security": S}
_COPY_FLAGS: FlagSpec = {
    "from": S, "chown": S, "chmod": S, "link": B, "parents": B, "exclude": L,
}  # fmt: skip
_ADD_FLAGS: FlagSpec = {
    "chown": S, "chmod": S, "link": B, "checksum": S, "keep-git-dir": B, "exclude": L, "unpack": B,
}  # fmt: skip
_HEALTH_FLAGS: FlagSpec = {
    "interval": S, "timeout": S, "start-period": S, "start-interval": S, "retries": S,
}  # fmt: skip


def parse(text: str | bytes, path: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; raise :class:`DockerfileError` (with a span) if malformed."""
    syntax = parse_nodes(text, path)
    instructions: list[Instruction] = []
    in_stage = False
    for node in syntax.nodes:
        instruction = _instruction(node)
        if isinstance(instruction, From):
            in_stage = True
        elif not in_stage and not isinstance(instruction, Arg):
            raise DockerfileError("no build stage in current context", node.span)
        instructions.append(instruction)
    if not in_stage:
        last = syntax.nodes[-1].span.last_line
        raise DockerfileError("dockerfile contains no stages to build", SourceSpan(path, 1, last))
    return Dockerfile(path, tuple(instructions), syntax.escape, syntax.directives)


def _instruction(node: Node) -> Instruction:
    convert = INSTRUCTIONS.get(node.command)
    if convert is None:
        _fail(node, f"unknown instruction: {node.word}" + suggest(node.word, list(INSTRUCTIONS)))
    return convert(node)


def _fail(node: Node, message: str) -> NoReturn:
    raise DockerfileError(message, node.span)


def _flags(node: Node, spec: FlagSpec) -> FlagValues:
    try:
        return parse_flags(node.flags, spec)
    except FlagError as err:
        _fail(node, str(err))


def _str(values: FlagValues, name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) else None


def _strs(values: FlagValues, name: str) -> tuple[str, ...]:
    value = values.get(name, ())
    return value if isinstance(value, tuple) else ()


def _command(node: Node) -> Command:
    return Command(node.args, shell_form=not node.json)


def _from(node: Node) -> From:
    args = node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            _fail(
                node,
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols",
            )
    elif len(args) != 1:
        _fail(node, "FROM requires either one or three arguments")
    flags = _flags(node, {"platform": S})
    return From(node.span, node.original, args[0], name, _str(flags, "platform"))


def _run(node: Node) -> Run:
    flags = _flags(node, _RUN_FLAGS)
    heredocs = tuple(_chomped(h) for h in node.heredocs)
    return Run(
        node.span,
        node.original,
        _command(node),
        heredocs=heredocs,
        mounts=_strs(flags, "mount"),
        network=_str(flags, "network"),
        security=_str(flags, "security"),
    )


def _chomped(heredoc: Heredoc) -> Heredoc:
    if not heredoc.chomp:
        return heredoc
    return Heredoc(heredoc.name, chomp(heredoc.content), heredoc.expand, heredoc.chomp)


def _cmd(node: Node) -> Cmd:
    _flags(node, {})
    return Cmd(node.span, node.original, _command(node))


def _entrypoint(node: Node) -> Entrypoint:
    _flags(node, {})
    return Entrypoint(node.span, node.original, _command(node))


def _shell(node: Node) -> Shell:
    _flags(node, {})
    if not node.args:
        _fail(node, "SHELL requires at least one argument")
    if not node.json:
        _fail(node, "SHELL requires the arguments to be in JSON form")
    return Shell(node.span, node.original, node.args)


def _pairs(node: Node, name: str) -> tuple[KeyValue, ...]:
    _flags(node, {})
    if not node.args:
        _fail(node, f"{name} requires at least one argument")
    keys, values = node.args[0::2], node.args[1::2]
    if any(not key for key in keys):
        _fail(node, f"{name} names can not be blank")
    return tuple(KeyValue(k, v) for k, v in zip(keys, values, strict=True))


def _label(node: Node) -> Label:
    return Label(node.span, node.original, _pairs(node, "LABEL"))


def _env(node: Node) -> Env:
    return Env(node.span, node.original, _pairs(node, "ENV"))


def _one(node: Node) -> str:
    if len(node.args) != 1:
        _fail(node, f"{node.command.upper()} requires exactly one argument")
    _flags(node, {})
    return node.args[0]


def _maintainer(node: Node) -> Maintainer:
    return Maintainer(node.span, node.original, _one(node))


def _user(node: Node) -> User:
    return User(node.span, node.original, _one(node))


def _workdir(node: Node) -> Workdir:
    return Workdir(node.span, node.original, _one(node))


def _stopsignal(node: Node) -> Stopsignal:
    return Stopsignal(node.span, node.original, _one(node))


def _at_least_one(node: Node) -> None:
    if not node.args:
        _fail(node, f"{node.command.upper()} requires at least one argument")
    _flags(node, {})


def _expose(node: Node) -> Expose:
    _at_least_one(node)
    return Expose(node.span, node.original, node.args)


def _volume(node: Node) -> Volume:
    _at_least_one(node)
    paths = tuple(path.strip() for path in node.args)
    if any(not path for path in paths):
        _fail(node, "VOLUME specified can not be an empty string")
    return Volume(node.span, node.original, paths)


def _arg(node: Node) -> Arg:
    _at_least_one(node)
    decls = []
    for word in node.args:
        name, sep, default = word.partition("=")
        if not name:
            _fail(node, "ARG names can not be blank")
        decls.append(ArgDecl(name, default if sep else None))
    return Arg(node.span, node.original, tuple(decls))


def _sources(node: Node) -> tuple[tuple[str, ...], str, tuple[Heredoc, ...]]:
    """Split COPY/ADD args into (sources, dest, heredoc sources' bodies)."""
    name = node.command.upper()
    sources, dest = node.args[:-1], node.args[-1]
    if parse_heredoc_word(dest) is not None:
        _fail(node, f"{name} cannot accept a heredoc as a destination")
    bodies = {heredoc.name: heredoc.content for heredoc in node.heredocs}
    heredocs = []
    for source in sources:
        word = parse_heredoc_word(source)
        if word is not None:
            content = bodies.get(word.name, "")
            content = chomp(content) if word.chomp else content
            heredocs.append(Heredoc(word.name, content, word.expand, word.chomp))
    return sources, dest, tuple(heredocs)


def _min_two(node: Node) -> None:
    if len(node.args) < 2:
        _fail(
            node,
            f"{node.command.upper()} requires at least two arguments, but only one was "
            "provided. Destination could not be determined",
        )


def _copy(node: Node) -> Copy:
    _min_two(node)
    f = _flags(node, _COPY_FLAGS)
    sources, dest, heredocs = _sources(node)
    return Copy(
        node.span, node.original, sources, dest, heredocs,
        from_stage=_str(f, "from"), chown=_str(f, "chown"), chmod=_str(f, "chmod"),
        link=f.get("link") is True, parents=f.get("parents") is True,
        exclude=_strs(f, "exclude"),
    )  # fmt: skip


def _add(node: Node) -> Add:
    _min_two(node)
    f = _flags(node, _ADD_FLAGS)
    sources, dest, heredocs = _sources(node)
    unpack = f.get("unpack")
    return Add(
        node.span, node.original, sources, dest, heredocs,
        chown=_str(f, "chown"), chmod=_str(f, "chmod"), link=f.get("link") is True,
        checksum=_str(f, "checksum"), keep_git_dir=f.get("keep-git-dir") is True,
        exclude=_strs(f, "exclude"), unpack=unpack if isinstance(unpack, bool) else None,
    )  # fmt: skip


def _onbuild(node: Node) -> Onbuild:
    if node.child is None:
        _fail(node, "ONBUILD requires at least one argument")
    _flags(node, {})
    trigger = node.child.word.upper()
    if trigger == "ONBUILD":
        _fail(node, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        _fail(node, f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for heredoc in node.heredocs:
        expression += "\n" + heredoc.content + heredoc.name
    return Onbuild(node.span, node.original, expression)


def _healthcheck(node: Node) -> Healthcheck:
    if not node.args:
        _fail(node, "HEALTHCHECK requires at least one argument")
    kind, args = node.args[0].upper(), node.args[1:]
    if kind == "NONE":
        if args:
            _fail(node, "HEALTHCHECK NONE takes no arguments")
        return Healthcheck(node.span, node.original, ("NONE",))
    flags = _flags(node, _HEALTH_FLAGS)
    if kind != "CMD":
        _fail(node, f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    if not args:
        _fail(node, "Missing command after HEALTHCHECK CMD")
    test = ("CMD", *args) if node.json else ("CMD-SHELL", " ".join(args))
    return Healthcheck(
        node.span, node.original, test,
        interval=_interval(node, flags, "interval"),
        timeout=_interval(node, flags, "timeout"),
        start_period=_interval(node, flags, "start-period"),
        start_interval=_interval(node, flags, "start-interval"),
        retries=_retries(node, flags),
    )  # fmt: skip


def _interval(node: Node, flags: FlagValues, name: str) -> int | None:
    text = _str(flags, name)
    if not text:
        return None
    try:
        nanos = parse_duration(text)
    except ValueError as err:
        _fail(node, str(err))
    if nanos != 0 and nanos < _MIN_INTERVAL:
        _fail(node, f"Interval {go_quote(name)} cannot be less than 1ms")
    return nanos


def _retries(node: Node, flags: FlagValues) -> int | None:
    text = _str(flags, "retries")
    if not text:
        return None
    try:
        retries = parse_int32(text)
    except ValueError as err:
        _fail(node, str(err))
    if retries < 0:
        _fail(node, f"--retries cannot be negative ({retries})")
    return retries


INSTRUCTIONS: dict[str, Callable[[Node], Instruction]] = {
    "add": _add,
    "arg": _arg,
    "cmd": _cmd,
    "copy": _copy,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _maintainer,
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}
