"""Line-level argument splitting, as BuildKit's ``parser/line_parsers.go`` does it.

This module owns the rules that turn the text after an instruction name into
raw words *before* any variable substitution:

* :func:`extract_flags` takes the leading ``--flag[=value]`` words off a line
  (quotes and backslashes inside flags are removed here, as BuildKit does);
* :func:`parse_json_array` recognises the exec (JSON) form;
* :func:`split_whitespace` is the plain split used by FROM, EXPOSE and the
  shell form of COPY, ADD and VOLUME (no quote handling at all);
* :func:`parse_words` is the quote-aware split used by ENV, LABEL and ARG,
  which keeps quotes and escapes in the words;
* :func:`parse_name_val` is ENV/LABEL's ``k=v ...`` or legacy ``k v`` form.

Everything here is pure and raises :class:`LineError` (a message without a
location); :mod:`ocibuild.dockerfile.syntax` adds the line.
"""

from __future__ import annotations

import json
import re

__all__ = [
    "NOT_STRING_ARRAY",
    "LineError",
    "extract_flags",
    "go_quote",
    "parse_json_array",
    "parse_name_val",
    "parse_words",
    "split_whitespace",
]

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class LineError(Exception):
    """A malformed line; the caller attaches the location."""


def go_quote(text: str) -> str:
    """Quote ``text`` the way Go's ``%q`` does for printable strings."""
    return json.dumps(text, ensure_ascii=False)


def split_whitespace(rest: str) -> list[str]:
    """Split on runs of blanks, ignoring quotes (BuildKit's parseStringsWhitespaceDelimited)."""
    if not rest:
        return []
    return _WHITESPACE.split(rest)


def extract_flags(line: str) -> tuple[list[str], str]:
    """Take the leading ``--flag`` words off ``line``; return (flags, remainder).

    A flag word ends at unquoted whitespace; quotes are removed and a backslash
    escapes the next character.  A bare ``--`` ends the flags.
    """
    flags: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return flags, ""
        if not line.startswith("--", pos):
            return flags, line[pos:]
        word, quoted, pos = _flag_word(line, pos)
        if word == "--":
            return flags, line[pos:]
        if word or quoted:
            flags.append(word)


def _flag_word(line: str, pos: int) -> tuple[str, bool, int]:
    """Read one flag word starting at ``pos``; return (word, had_quotes, end)."""
    out: list[str] = []
    quote = ""
    quoted = False
    n = len(line)
    while pos < n:
        ch = line[pos]
        if not quote and ch.isspace():
            break
        if not quote and ch in "'\"":
            quote, quoted = ch, True
        elif quote and ch == quote:
            quote = ""
        elif ch == "\\":
            if pos + 1 == n:
                pos += 1
                break
            pos += 1
            out.append(line[pos])
        else:
            out.append(ch)
        pos += 1
    return "".join(out), quoted, pos


def parse_json_array(rest: str) -> list[str] | None:
    """The exec form: a JSON array of strings, or None when ``rest`` is not JSON.

    Like Go's ``json.Decoder``, only the first JSON value is read; text after
    the closing bracket is ignored.  An array holding anything but strings is
    an error, not shell form.
    """
    text = rest.lstrip()
    if not text.startswith("["):
        return None
    try:
        value, _end = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text)
    except (ValueError, _NotJSONError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise LineError(NOT_STRING_ARRAY)
    return value


class _NotJSONError(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise _NotJSONError(name)  # NaN/Infinity are not JSON for Go's decoder


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes in the words."""
    words: list[str] = []
    word: list[str] = []
    in_word = blank_ok = False
    quote = ""
    pos, n = 0, len(rest)
    while pos < n:
        ch = rest[pos]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos + 1 == n:
                    break
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
        elif ch.isspace():
            if in_word and (blank_ok or word):
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
        else:
            in_word = True
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if pos + 1 == n:
                    break
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
        pos += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def parse_name_val(rest: str, key: str, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL pairs: ``k=v k2="v 2"`` or the legacy ``k value with spaces``."""
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise LineError(f"{key} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise LineError(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        pairs.append((name, value))
    return pairs
