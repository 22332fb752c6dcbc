"""A small, independent .dockerignore matcher to compare ocibuild's against.

It knows a restricted pattern language only, where the two must agree:
segments made of letters, digits, ``.``, ``-``, ``_``, ``*`` and ``?``, or a
segment that is exactly ``**``; an optional leading ``!``.  No brackets, no
backslashes, no ``**`` inside a segment (moby/patternmatcher gives ``a**b``
a meaning of its own).  Matching works on path segments instead of a
regular expression: ``*`` and ``?`` stay inside one segment, ``**`` takes
zero or more whole segments (at least one at the end of a pattern, since
``a/**`` compiles to ``^a/.*$``), a pattern matches a path or any of its
parents, and the last matching pattern wins.

Used by fuzz/targets.py (the ``ignore`` target) and the hypothesis tests.
"""

from __future__ import annotations

import posixpath
import re

__all__ = ["excluded", "in_language", "normalize"]

_SEGMENT = re.compile(r"[A-Za-z0-9._*?-]+")


def normalize(line: str) -> str | None:
    """A pattern line as Docker's ReadAll leaves it (None: the line is skipped)."""
    if line.startswith("#"):
        return None
    line = line.strip()
    if not line:
        return None
    invert = line.startswith("!")
    body = line[1:].strip() if invert else line
    body = posixpath.normpath(body).lstrip("/") if body else body
    return ("!" if invert else "") + body


def in_language(pattern: str) -> bool:
    """Whether a normalized pattern is one this reference understands."""
    body = pattern.removeprefix("!")
    if not body or body == "." or body.startswith(".."):
        return False
    return all(s == "**" or (_SEGMENT.fullmatch(s) and "**" not in s) for s in body.split("/"))


def _segment_regex(segment: str) -> str:
    """``*`` and ``?`` within one segment; every other character literal."""
    table = {"*": "[^/]*", "?": "[^/]"}
    return "".join(table.get(ch, re.escape(ch)) for ch in segment)


def _segments_match(pattern: list[str], path: list[str], *, at_start: bool = True) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        least = 1 if not rest and not at_start else 0
        return any(
            _segments_match(rest, path[i:], at_start=False) for i in range(least, len(path) + 1)
        )
    if not path:
        return False
    if not re.fullmatch(_segment_regex(head), path[0], flags=re.DOTALL):
        return False
    return _segments_match(rest, path[1:], at_start=False)


def _matches(pattern: str, path: str) -> bool:
    want = pattern.split("/")
    parts = path.split("/")
    return any(_segments_match(want, parts[:end]) for end in range(1, len(parts) + 1))


def excluded(patterns: list[str], path: str) -> bool:
    """Whether ``path`` (relative, cleaned) is excluded by normalized ``patterns``."""
    result = False
    for pattern in patterns:
        body = pattern.removeprefix("!")
        if _matches(body, path):
            result = not pattern.startswith("!")
    return result
