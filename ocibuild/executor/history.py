"""The ``created_by`` strings BuildKit writes into image history.

BuildKit formats several of them with Go's ``fmt`` verbs (``%q`` on a string
slice, ``%v`` on a slice or a map, ``%q`` on the healthcheck struct), so this
module re-implements just enough of Go's quoting and ``time.Duration``
formatting to produce byte-identical text.  Checked against Docker 20.10's
BuildKit with ``docker history --no-trunc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "COMMENT",
    "copy_created_by",
    "exec_list",
    "go_duration",
    "go_quote",
    "go_quote_rune",
    "healthcheck_created_by",
    "plain_list",
    "port_map",
]

COMMENT = "buildkit.dockerfile.v0"
"""The ``comment`` BuildKit puts on every history entry of a Dockerfile step."""

_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def _escape_char(ch: str, quote: str) -> str:
    if ch == quote:
        return "\\" + ch
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, C-style escapes, printable kept."""
    return '"' + "".join(_escape_char(ch, '"') for ch in text) + '"'


def go_quote_rune(value: int) -> str:
    """Go's ``%q`` on an integer: the rune as a single-quoted literal."""
    if value < 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "'\\ufffd'"
    return "'" + _escape_char(chr(value), "'") + "'"


def exec_list(args: Iterable[str]) -> str:
    """Go's ``%q`` on a ``[]string``: ``["a" "b c"]``."""
    return "[" + " ".join(go_quote(a) for a in args) + "]"


def plain_list(args: Iterable[str]) -> str:
    """Go's ``%v`` on a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(args) + "]"


def port_map(ports: Iterable[str]) -> str:
    """Go's ``%v`` on ``map[nat.Port]struct{}``: sorted keys, ``{}`` values."""
    return "map[" + " ".join(f"{p}:{{}}" for p in sorted(set(ports))) + "]"


def _fraction(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``0s``, ``1.5s``, ``1m30s``, ``500ms``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 6)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _fraction(rest, 9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def healthcheck_created_by(
    test: Sequence[str], interval: int, timeout: int, start_period: int, retries: int
) -> str:
    """``HEALTHCHECK &{["CMD-SHELL" "x"] "5s" "0s" "0s" '\\x00'}`` (Go ``%q``)."""
    durations = " ".join(go_quote(go_duration(d)) for d in (interval, timeout, start_period))
    return f"HEALTHCHECK &{{{exec_list(test)} {durations} {go_quote_rune(retries)}}}"


def copy_created_by(
    keyword: str, sources: Iterable[str], dest: str, flags: Iterable[str] = ()
) -> str:
    """``COPY a b /dest/ # buildkit``: expanded words; of the flags only those
    BuildKit writes (``--parents``), --chown/--chmod left out as 20.10 does."""
    return " ".join([keyword, *flags, *sources, dest]) + " # buildkit"
