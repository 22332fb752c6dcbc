"""The Dockerfile lexer: text -> :class:`Node` per instruction, as BuildKit's
``parser`` package does it.

It owns everything that happens before an instruction is interpreted:

* decoding (UTF-8, a leading BOM dropped) and splitting into physical lines;
* parser directives (``# syntax=``, ``# escape=``, ``# check=``), recognised
  only at the very top: the first line that is not a known directive (blank
  lines, other comments, unknown directives, instructions) ends them;
* comments and blank lines; continuations with the escape character, where
  comment lines and blank lines inside a continuation are skipped;
* splitting a logical line into the instruction word, its ``--flags`` and the
  line-level arguments (exec-form JSON, words, ``k=v`` pairs; see
  :mod:`ocibuild.dockerfile.words`), including ONBUILD's trigger;
* heredoc bodies after RUN, COPY and ADD (also as an ONBUILD trigger).

Errors raised here are the ones BuildKit's parser raises (bad directive,
non-string JSON array, malformed ENV/LABEL, unterminated heredoc, empty file).
Instruction-level checks (argument counts, which flags are allowed, unknown
instructions) belong to :mod:`ocibuild.dockerfile.parse`.
"""

from __future__ import annotations

import re

from ocibuild._record import record, replace
from ocibuild.dockerfile.heredoc import heredoc_words
from ocibuild.dockerfile.instructions import Heredoc
from ocibuild.dockerfile.words import (
    LineError,
    extract_flags,
    parse_json_array,
    parse_name_val,
    parse_words,
    split_whitespace,
)
from ocibuild.errors import DockerfileError, SourceSpan

__all__ = ["DIRECTIVES", "Node", "Syntax", "parse_nodes"]

DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*", re.ASCII)
_COMMAND_SPLIT = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})


@record
class Node:
    """One instruction as the lexer sees it; words are raw.

    ``command`` is the lower-cased instruction name and ``word`` the name as
    written.  ``args`` are the line-level arguments (for ENV and LABEL the
    keys and values alternate); ``json`` says they came from a JSON array.
    ``heredocs`` hold the bodies exactly as read (tabs not yet chomped).
    """

    command: str
    word: str
    original: str
    flags: tuple[str, ...]
    rest: str
    args: tuple[str, ...]
    json: bool
    span: SourceSpan
    heredocs: tuple[Heredoc, ...] = ()
    child: Node | None = None


@record
class Syntax:
    """The lexer's result: nodes in order, the escape character, the directives."""

    nodes: tuple[Node, ...]
    escape: str
    directives: tuple[tuple[str, str], ...]


class _Lines:
    """Physical lines (line ends kept) with a 1-based cursor."""

    def __init__(self, text: str) -> None:
        parts = text.split("\n")
        self.lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        self.number = 0

    def next(self) -> str | None:
        if self.number >= len(self.lines):
            return None
        self.number += 1
        return self.lines[self.number - 1]


class _Directives:
    """Directive state: which were seen, whether they are over, the escape char."""

    def __init__(self) -> None:
        self.done = False
        self.found: dict[str, str] = {}
        self.escape = "\\"
        self._continuation = _continuation_regex(self.escape)

    def feed(self, line: str) -> None:
        """Look at a stripped line for a directive; raise LineError on a bad one."""
        if self.done:
            return
        match = _DIRECTIVE.fullmatch(line[1:].lstrip()) if line.startswith("#") else None
        key = match.group(1).lower() if match else ""
        if match is None or key not in DIRECTIVES:
            self.done = True
            return
        if key in self.found:
            raise LineError(f"only one {key} parser directive can be used")
        value = match.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise LineError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self._continuation = _continuation_regex(value)
        self.found[key] = value

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """Drop a trailing escape char; return (line, is_end_of_line)."""
        match = self._continuation.search(line)
        if match is None:
            return line, True
        return line[: match.start()] + (match.group(1) or ""), False


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _decode(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff")


def parse_nodes(text: str | bytes, path: str = "Dockerfile") -> Syntax:
    """Lex a whole Dockerfile; raise DockerfileError for what BuildKit's parser rejects."""
    lines = _Lines(_decode(text))
    state = _Directives()
    nodes: list[Node] = []
    while (raw := lines.next()) is not None:
        start = lines.number
        token = raw.rstrip("\r\n").lstrip()
        try:
            state.feed(token)
        except LineError as err:
            raise DockerfileError(str(err), SourceSpan(path, start, start)) from None
        token, end_of_line = state.trim_continuation("" if _is_comment(token) else token)
        if end_of_line and not token:
            continue
        line = _join_continuation(lines, state, token, end_of_line)
        span = SourceSpan(path, start, lines.number)
        nodes.append(_read_node(lines, line, state.escape, span))
    if not nodes:
        last = max(lines.number, 1)
        raise DockerfileError("file with no instructions", SourceSpan(path, last, last))
    directives = tuple((k, v) for k, v in state.found.items())
    return Syntax(tuple(nodes), state.escape, directives)


def _join_continuation(lines: _Lines, state: _Directives, first: str, end_of_line: bool) -> str:
    """Append continuation lines, skipping comments and blank lines inside."""
    parts = [first]
    while not end_of_line and (raw := lines.next()) is not None:
        if _is_comment(raw):
            continue
        token = raw.rstrip("\r\n")
        if not token.lstrip():
            continue
        token, end_of_line = state.trim_continuation(token)
        parts.append(token)
    return "".join(parts)


def _read_node(lines: _Lines, line: str, escape: str, span: SourceSpan) -> Node:
    try:
        node = node_from_line(line, escape, span)
    except LineError as err:
        raise DockerfileError(str(err), span) from None
    if not _can_contain_heredoc(node) or "<<" not in line:
        return node
    bodies = []
    for word in heredoc_words(line):
        content, terminated = _read_body(lines, word.name, word.chomp)
        if not terminated:
            raise DockerfileError(
                "unterminated heredoc", SourceSpan(span.path, span.first_line, lines.number)
            )
        bodies.append(Heredoc(word.name, content, word.expand, word.chomp))
    end = SourceSpan(span.path, span.first_line, lines.number)
    return replace(node, heredocs=tuple(bodies), span=end)


def _read_body(lines: _Lines, name: str, chomp: bool) -> tuple[str, bool]:
    content: list[str] = []
    while (raw := lines.next()) is not None:
        candidate = raw.rstrip("\r\n")
        if chomp:
            candidate = candidate.lstrip("\t")
        if candidate == name:
            return "".join(content), True
        content.append(raw)
    return "".join(content), False


def _can_contain_heredoc(node: Node) -> bool:
    if node.command == "onbuild" and node.child is not None:
        node = node.child
    return node.command in _HEREDOC_COMMANDS and not node.json


def node_from_line(line: str, escape: str, span: SourceSpan) -> Node:
    """Split a logical line into name, flags and line-level arguments."""
    parts = _COMMAND_SPLIT.split(line.strip(), maxsplit=1)
    flags, rest = extract_flags(parts[1]) if len(parts) == 2 else ([], "")
    rest = rest.strip()
    command = parts[0].lower()
    child = node_from_line(rest, escape, span) if command == "onbuild" and rest else None
    args, is_json = _line_args(command, rest, escape)
    return Node(command, parts[0], line, tuple(flags), rest, args, is_json, span, child=child)


def _line_args(command: str, rest: str, escape: str) -> tuple[tuple[str, ...], bool]:
    """The arguments as BuildKit's per-instruction line parser splits them."""
    if command in ("add", "copy", "volume"):
        array = parse_json_array(rest)
        return (tuple(array), True) if array is not None else (tuple(split_whitespace(rest)), False)
    if command in ("cmd", "entrypoint", "run", "shell"):
        return _maybe_json(rest)
    if command == "arg":
        return tuple(parse_words(rest, escape)), False
    if command in ("env", "label"):
        pairs = parse_name_val(rest, command.upper(), escape)
        return tuple(item for pair in pairs for item in pair), False
    if command in ("expose", "from"):
        return tuple(split_whitespace(rest)), False
    if command == "healthcheck":
        kind, _, after = _split_first(rest)
        if not kind:
            return (), False
        tail, is_json = _maybe_json(after.lstrip())
        return (kind, *tail), is_json
    if command in ("maintainer", "stopsignal", "user", "workdir"):
        return ((rest,) if rest else ()), False
    return (), False


def _split_first(rest: str) -> tuple[str, str, str]:
    for i, ch in enumerate(rest):
        if ch.isspace():
            return rest[:i], ch, rest[i + 1 :]
    return rest, "", ""


def _maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    array = parse_json_array(rest)
    if array is not None:
        return tuple(array), True
    return (rest,), False
