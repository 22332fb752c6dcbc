"""Shell-word processing: variable substitution and quote/escape removal.

This module owns BuildKit's ``shell.Lex`` semantics (``ProcessWord`` and
``ProcessWords``) and the table of which instruction fields get them
(:func:`expand_instruction`).  It knows nothing about where the environment
comes from: the executor passes the stage's ARGs in scope plus the ENV of the
base image and the stage.

Supported forms, as BuildKit has them: ``$v``, ``${v}``, ``${v-w}``,
``${v:-w}``, ``${v+w}``, ``${v:+w}``, ``${v?msg}``, ``${v:?msg}``, ``${v#p}``,
``${v##p}``, ``${v%p}``, ``${v%%p}``, ``${v/p/r}`` and ``${v//p/r}``.  Patterns
know ``*`` and ``?`` only (no brackets, like BuildKit).  Single quotes keep
everything literal; double quotes allow ``$`` and escape only ``"``, ``$`` and
the escape character.  Unset variables expand to the empty string.  The
pattern-matching helpers live in :mod:`ocibuild.dockerfile._shellpattern`.
"""

from __future__ import annotations

import io
import json
import unicodedata
from typing import TYPE_CHECKING, assert_never

from ocibuild._record import replace
from ocibuild.dockerfile import _shellpattern
from ocibuild.dockerfile._shellpattern import LexError, trim_prefix, trim_suffix
from ocibuild.dockerfile.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
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
from ocibuild.errors import DockerfileError, at

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["expand_instruction", "process_heredoc", "process_word", "process_words"]

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_MAX_DEPTH = 64


def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Substitute variables in ``word`` and remove quotes and escapes."""
    return _run(word, env, escape, skip_quotes=False)[0]


def process_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Like :func:`process_word`, then split on unquoted whitespace.

    Whitespace that comes from a variable's value splits too (as in a shell);
    whitespace inside quotes or escaped does not.  Empty words are dropped.
    """
    return _run(text, env, escape, skip_quotes=False)[1]


def process_heredoc(body: str, env: Mapping[str, str]) -> str:
    """Expand a heredoc body: ``$`` forms only, quotes kept (BuildKit's raw lexer)."""
    return _run(body, env, "\\", skip_quotes=True)[0]


def _run(
    word: str, env: Mapping[str, str], escape: str, *, skip_quotes: bool
) -> tuple[str, list[str]]:
    if len(escape) != 1:
        raise ValueError(f"escape must be one character, not {escape!r}")
    lexer = _Lexer(word, env, escape, skip_quotes=skip_quotes)
    try:
        return lexer.process_stop_on(_EOF, raw_escapes=False)
    except LexError as err:
        quoted = json.dumps(word, ensure_ascii=False)
        raise DockerfileError(f"failed to process {quoted}: {err}") from None


class _Words:
    """Collects whitespace-separated words as the lexer produces characters."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def finish(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


class _Lexer:
    """A one-pass scanner over a word; mirrors BuildKit's ``shellWord``."""

    def __init__(
        self, text: str, env: Mapping[str, str], escape: str, *, skip_quotes: bool
    ) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.skip_quotes = skip_quotes
        self.raw_escapes = False
        self.depth = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process_stop_on(self, stop: str, *, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read up to ``stop`` (consumed) or the end; return the text and its words."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise LexError("substitutions nested too deeply")
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved
            self.depth -= 1

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        while (ch := self.peek()) != _EOF:
            if stop and ch == stop:
                self.next()
                return "".join(out), words.finish()
            if ch == "$":
                value = self.process_dollar()
                out.append(value)
                words.add_string(value)
            elif ch in "'\"" and not self.skip_quotes:
                value = self.single_quote() if ch == "'" else self.double_quote()
                out.append(value)
                words.add_raw(value)
            elif self.next() == self.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    out.append(ch)
                escaped = self.next()
                if escaped == _EOF:
                    break
                words.add_raw(escaped)
                out.append(escaped)
            else:
                words.add_char(ch)
                out.append(ch)
        if stop:
            raise LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.finish()

    def single_quote(self) -> str:
        self.next()
        end = self.text.find("'", self.pos)
        if end < 0:
            raise LexError("unexpected end of statement while looking for matching single-quote")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise LexError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.process_dollar())
                continue
            self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                after = self.peek()
                if after == _EOF:
                    continue
                if after in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def process_name(self) -> str:
        """A variable name: letters/digits/_ , or all digits, or one special char."""
        start = self.pos
        first = self.peek()
        if first and _is_digit(first):
            while self.peek() and _is_digit(self.peek()):
                self.next()
            return self.text[start : self.pos]
        if first in _SPECIAL_PARAMS and first:
            return self.next()
        while (ch := self.peek()) and (ch.isalpha() or _is_digit(ch) or ch == "_"):
            self.next()
        return self.text[start : self.pos]

    def lookup(self, name: str) -> str | None:
        return self.env.get(name)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            return self.lookup(name) or ""
        self.next()
        first = self.peek()
        if first == _EOF:
            raise LexError("syntax error: missing '}'")
        if first in "{}:":
            raise LexError("syntax error: bad substitution")
        name = self.process_name()
        op = self.next()
        if op == _EOF:
            raise LexError("syntax error: missing '}'")
        if op == "}":
            return self.lookup(name) or ""
        if op == "/":
            return self.process_replace(name)
        if op in ":+-?#%":
            return self.process_modifier(name, op)
        raise LexError(f"unsupported modifier ({op}) in substitution")

    def process_modifier(self, name: str, op: str) -> str:
        null_is_unset = op == ":"
        spelled = op
        if null_is_unset:
            op = self.next()
            spelled += op
        word = self.read_to_brace(raw_escapes=op in "#%" and op != _EOF)
        value = self.lookup(name)
        unset = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if unset else (value or "")
        if op == "+":
            return "" if unset else word
        if op == "?":
            if value is None:
                raise LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value or ""
        if op in ("#", "%"):
            greedy = word.startswith(op)
            pattern = word[1:] if greedy else word
            trim = trim_prefix if op == "#" else trim_suffix
            return trim(pattern, value or "", greedy=greedy)
        raise LexError(f"unsupported modifier ({spelled}) in substitution")

    def read_to_brace(self, *, raw_escapes: bool) -> str:
        try:
            return self.process_stop_on("}", raw_escapes=raw_escapes)[0]
        except LexError:
            if self.peek() == _EOF:
                raise LexError("syntax error: missing '}'") from None
            raise

    def process_replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern = self.process_stop_on("/", raw_escapes=True)[0]
        except LexError:
            if self.peek() == _EOF:
                raise LexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self.read_to_brace(raw_escapes=True)
        value = self.lookup(name) or ""
        return _shellpattern.replace(value, pattern, replacement, replace_all=replace_all)


def expand_instruction(
    instr: Instruction, env: Mapping[str, str], escape: str = "\\"
) -> Instruction:
    """Return ``instr`` with every field the Dockerfile reference expands processed.

    RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are left
    alone (their commands are for the shell); RUN's ``--mount`` and
    ``--network`` values are expanded.  Errors carry ``instr.span``.
    """
    with at(instr.span):
        return _expand(instr, _Expander(env, escape))


class _Expander:
    def __init__(self, env: Mapping[str, str], escape: str) -> None:
        self.env = env
        self.escape = escape

    def word(self, word: str) -> str:
        return process_word(word, self.env, self.escape)

    def opt(self, word: str | None) -> str | None:
        return None if word is None else self.word(word)

    def each(self, words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.word(w) for w in words)

    def pairs(self, pairs: tuple[KeyValue, ...]) -> tuple[KeyValue, ...]:
        return tuple(KeyValue(self.word(p.key), self.word(p.value)) for p in pairs)

    def heredocs(self, docs: tuple[Heredoc, ...]) -> tuple[Heredoc, ...]:
        return tuple(
            replace(d, content=process_heredoc(d.content, self.env)) if d.expand else d
            for d in docs
        )

    def mount(self, spec: str) -> str:
        """Expand each ``key=value`` value of a ``--mount`` spec (a CSV line)."""
        import csv  # only RUN --mount needs it: not imported by every build

        fields = next(csv.reader([spec]), [])
        out = []
        for field in fields:
            key, sep, value = field.partition("=")
            out.append(key + sep + self.word(value) if sep else field)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(out)
        return buffer.getvalue()


def _expand(instr: Instruction, ex: _Expander) -> Instruction:
    match instr:
        case From():
            return replace(instr, image=ex.word(instr.image), platform=ex.opt(instr.platform))
        case Copy():
            return replace(
                instr,
                sources=ex.each(instr.sources),
                dest=ex.word(instr.dest),
                heredocs=ex.heredocs(instr.heredocs),
                from_stage=ex.opt(instr.from_stage),
                chown=ex.opt(instr.chown),
                chmod=ex.opt(instr.chmod),
                exclude=ex.each(instr.exclude),
            )
        case Add():
            return replace(
                instr,
                sources=ex.each(instr.sources),
                dest=ex.word(instr.dest),
                heredocs=ex.heredocs(instr.heredocs),
                chown=ex.opt(instr.chown),
                chmod=ex.opt(instr.chmod),
                checksum=ex.opt(instr.checksum),
                exclude=ex.each(instr.exclude),
            )
        case Env() | Label():
            return replace(instr, pairs=ex.pairs(instr.pairs))
        case Arg():
            args = tuple(replace(a, default=ex.opt(a.default)) for a in instr.args)
            return replace(instr, args=args)
        case Expose():
            ports = [p for raw in instr.ports for p in process_words(raw, ex.env, ex.escape)]
            return replace(instr, ports=tuple(ports))
        case Volume():
            return replace(instr, paths=ex.each(instr.paths))
        case User():
            return replace(instr, user=ex.word(instr.user))
        case Workdir():
            return replace(instr, path=ex.word(instr.path))
        case Stopsignal():
            return replace(instr, signal=ex.word(instr.signal))
        case Run():
            mounts = tuple(ex.mount(m) for m in instr.mounts)
            return replace(instr, mounts=mounts, network=ex.opt(instr.network))
        case Cmd() | Entrypoint() | Shell() | Healthcheck() | Maintainer() | Onbuild():
            return instr
        case _:
            assert_never(instr)
