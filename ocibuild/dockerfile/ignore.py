""".dockerignore: which context paths are left out of the build.

This module owns Docker's rules (moby/patternmatcher and its ``ReadAll``):
lines starting with ``#`` are comments; lines are trimmed; blank lines are
skipped; each pattern is cleaned like Go's ``filepath.Clean`` and a leading
``/`` is dropped; ``*`` and ``?`` never cross ``/``; ``**`` crosses any number
of directories; ``[...]`` is a character class; ``\\`` escapes; a pattern
matches a path or any of its parents; ``!`` re-includes; the last matching
pattern wins.  Walking the context (and refusing excluded COPY sources) is
left to ``build.context``; :meth:`IgnoreRules.could_include_under` tells it
whether an excluded directory must still be walked.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.errors import ContextError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["IgnorePattern", "IgnoreRules", "clean_path"]

_REGEX_ESCAPE = frozenset(".+()|{}$")


def clean_path(path: str) -> str:
    """Go's ``filepath.Clean`` for ``/``-separated paths."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def _translate(pattern: str) -> tuple[str, str]:
    """Pattern -> (regex body, match kind), as patternmatcher compiles it.

    The kind is ``exact``, ``prefix`` (``foo/**``), ``suffix`` (``**/foo``) or
    ``regex``; BuildKit takes the shortcuts literally, so we do as well.
    """
    out: list[str] = []
    kind = "exact"
    i = 0
    while i < len(pattern):
        start, ch = i, pattern[i]
        i += 1
        if ch == "*" and pattern[i : i + 1] == "*":
            i += 1
            if pattern[i : i + 1] == "/":
                i += 1
            at_end = i >= len(pattern)
            out.append(".*" if at_end else "(.*/)?")
            kind = "prefix" if at_end and kind == "exact" else "regex"
            if start == 0:
                kind = "suffix"
        elif ch in "*?[]":
            out.append({"*": "[^/]*", "?": "[^/]"}.get(ch, ch))
            kind = "regex"
        elif ch in _REGEX_ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            out.append("\\" + pattern[i] if i < len(pattern) else "\\")
            i += 1
        else:
            out.append(ch)
    return "".join(out), kind


def _compile(body: str, source: str) -> re.Pattern[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(body)
    except re.error:
        raise ContextError(f"invalid .dockerignore pattern {source!r}: syntax error") from None


def _check_syntax(text: str, source: str) -> None:
    """Refuse what Go's ``filepath.Match`` calls a bad pattern (a lone trailing ``\\``)."""
    stripped = text.rstrip("\\")
    if (len(text) - len(stripped)) % 2 == 1:
        raise ContextError(f"invalid .dockerignore pattern {source!r}: syntax error")


@record
class IgnorePattern:
    """One cleaned pattern; ``exclusion`` is True for ``!`` lines."""

    text: str
    exclusion: bool
    kind: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, line: str) -> IgnorePattern:
        text = clean_path(line.strip())
        exclusion = text.startswith("!")
        if exclusion:
            if text == "!":
                raise ContextError('illegal exclusion pattern: "!"')
            text = text[1:]
        _check_syntax(text, line)
        body, kind = _translate(text)
        return cls(text, exclusion, kind, _compile("^" + body + "$", line))

    def match(self, path: str) -> bool:
        """Whether the pattern matches ``path`` itself (parents are the caller's job)."""
        match self.kind:
            case "exact":
                return path == self.text
            case "prefix":
                return path.startswith(self.text[:-2])
            case "suffix":
                suffix = self.text[2:]
                if path.endswith(suffix):
                    return True
                return suffix.startswith("/") and path == suffix[1:]
            case _:
                return self.regex.match(path) is not None

    def could_match_under(self, directory: str) -> bool:
        """Whether this pattern might match ``directory`` or something inside it."""
        if "**" in self.text:
            return True
        segments = self.text.split("/")
        for index, name in enumerate(directory.split("/")):
            if index >= len(segments):
                return True
            if not _segment_may_match(segments[index], name):
                return False
        return True


def _segment_may_match(segment: str, name: str) -> bool:
    """One path segment against one pattern segment; True when unsure."""
    body, _ = _translate(segment)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.match("^" + body + "$", name) is not None
    except re.error:
        return True


def _read_lines(text: str) -> list[str]:
    """Docker's ``ReadAll``: comments, trimming, cleaning, leading ``/`` dropped."""
    patterns: list[str] = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = clean_path(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


@record
class IgnoreRules:
    """The patterns of one .dockerignore, in order."""

    patterns: tuple[IgnorePattern, ...] = ()

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        """Parse .dockerignore text; raises ContextError for a bad pattern."""
        return cls(tuple(IgnorePattern.compile(line) for line in _read_lines(text)))

    @classmethod
    def for_dockerfile(cls, context_dir: Path, dockerfile_path: Path | None = None) -> IgnoreRules:
        """Rules from ``<Dockerfile>.dockerignore`` if present, else ``.dockerignore``."""
        candidates = [context_dir / ".dockerignore"]
        if dockerfile_path is not None:
            named = dockerfile_path.with_name(dockerfile_path.name + ".dockerignore")
            candidates.insert(0, named)
        for candidate in candidates:
            if candidate.is_file():
                return cls.parse(candidate.read_text(encoding="utf-8", errors="surrogateescape"))
        return cls()

    def excluded(self, relpath: str) -> bool:
        """Whether ``relpath`` (relative to the context, ``/``-separated) is left out."""
        if not self.patterns:  # the common case, asked for every file of a COPY
            return False
        path = clean_path(relpath.lstrip("/"))
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path) or any(
                pattern.match("/".join(parents[: i + 1])) for i in range(len(parents))
            )
            if hit:
                matched = not pattern.exclusion
        return matched

    def could_include_under(self, dir_relpath: str) -> bool:
        """Whether an excluded directory may hold re-included (``!``) paths."""
        directory = clean_path(dir_relpath.lstrip("/"))
        return any(p.exclusion and p.could_match_under(directory) for p in self.patterns)
