"""Go's ``time.ParseDuration`` and ``strconv.ParseInt``, for HEALTHCHECK flags.

HEALTHCHECK ``--interval=1m30s`` is parsed the way Go parses it (the image
config stores nanoseconds), and ``--retries`` the way ``ParseInt(s, 10, 32)``
does, with Go's error wording.  Pure functions raising ``ValueError``.
"""

from __future__ import annotations

from ocibuild.dockerfile.words import go_quote

__all__ = ["parse_duration", "parse_int32"]

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX = (1 << 63) - 1
_DIGITS = "0123456789"


def parse_duration(text: str) -> int:
    """Nanoseconds in a Go duration such as ``30s``, ``1m30s``, ``1.5h``, ``-2ms``."""
    from fractions import Fraction  # only HEALTHCHECK needs it; not imported at start-up

    invalid = ValueError(f"time: invalid duration {go_quote(text)}")
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in "+-" and rest:
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = Fraction(0)
    while rest:
        whole, rest = _take(rest, _DIGITS)
        dot = rest[:1] == "."
        fraction = ""
        if dot:
            fraction, rest = _take(rest[1:], _DIGITS)
        if not whole and not fraction:
            raise invalid
        unit, rest = _take_unit(rest)
        if not unit:
            raise ValueError(f"time: missing unit in duration {go_quote(text)}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        value = Fraction(int(whole or "0"))
        if fraction:
            value += Fraction(int(fraction), 10 ** len(fraction))
        total += value * _UNITS[unit]
    nanos = int(total)
    if nanos > _MAX + (1 if negative else 0):
        raise invalid
    return -nanos if negative else nanos


def _take(text: str, allowed: str) -> tuple[str, str]:
    end = 0
    while end < len(text) and text[end] in allowed:
        end += 1
    return text[:end], text[end:]


def _take_unit(text: str) -> tuple[str, str]:
    end = 0
    while end < len(text) and text[end] != "." and text[end] not in _DIGITS:
        end += 1
    return text[:end], text[end:]


def parse_int32(text: str) -> int:
    """An int32 in base 10 as Go's ``strconv.ParseInt(text, 10, 32)`` reads it."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(1 << 31) <= value < (1 << 31):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value
