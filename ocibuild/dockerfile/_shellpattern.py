"""Shell patterns inside ``${}``: ``#``/``%`` trimming and ``/`` replacement.

Owned by :mod:`ocibuild.dockerfile.expand`.  BuildKit turns the pattern into a
regular expression: ``*`` is any run of characters (shortest or longest), ``?``
one character, ``\\`` escapes ``*``, ``?`` and ``\\`` (and is dropped before
``}`` and ``/``); there are no bracket expressions.  Replacement follows Go's
``regexp.ReplaceAllString``: empty matches right after a match are skipped and
``$0``/``${0}``/``$$`` in the replacement are expanded.
"""

from __future__ import annotations

import re

__all__ = ["LexError", "replace", "to_regex", "trim_prefix", "trim_suffix"]

_REGEX_SPECIAL = frozenset("[]{}.+()|^$")
_GO_TEMPLATE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


class LexError(Exception):
    """A substitution error; the caller turns it into a DockerfileError."""


def to_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Translate a shell pattern to a compiled regular expression."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise LexError(f"invalid pattern ({pattern}) in substitution: invalid escape")
            out.append("\\" + following)
            i += 1
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return re.compile("".join(out))


def trim_prefix(pattern: str, value: str, *, greedy: bool) -> str:
    """``${v#p}`` (shortest) or ``${v##p}`` (longest)."""
    match = to_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern but keep each ``\\x`` escape in order (``a\\*c`` -> ``c\\*a``)."""
    pieces: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            pieces.append(pattern[i : i + 2])
            i += 2
        else:
            pieces.append(pattern[i])
            i += 1
    return "".join(reversed(pieces))


def trim_suffix(pattern: str, value: str, *, greedy: bool) -> str:
    """``${v%p}`` (shortest) or ``${v%%p}`` (longest), by trimming the reversed value."""
    return trim_prefix(_reverse_pattern(pattern), value[::-1], greedy=greedy)[::-1]


def _expand_template(template: str, match: re.Match[str]) -> str:
    def one(ref: re.Match[str]) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        whole = name.isdigit() and int(name) == 0
        return match.group(0) if whole else ""

    return _GO_TEMPLATE.sub(one, template)


def replace(value: str, pattern: str, replacement: str, *, replace_all: bool) -> str:
    """``${v/p/r}`` (first match) or ``${v//p/r}`` (every match); ``*`` is greedy."""
    regex = to_regex(pattern, greedy=True, anchored=False)
    out: list[str] = []
    last = 0
    previous_end = -1
    for match in regex.finditer(value):
        if match.start() == match.end() == previous_end:
            continue
        out.append(value[last : match.start()])
        out.append(_expand_template(replacement, match))
        last = previous_end = match.end()
        if not replace_all:
            break
    out.append(value[last:])
    return "".join(out)
