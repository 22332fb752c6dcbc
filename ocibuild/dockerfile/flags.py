"""Instruction flags (``--name=value``), checked like BuildKit's ``BFlags``.

Each instruction declares the flags it accepts as a :data:`FlagSpec`; any
other flag is ``unknown flag: NAME``.  Bool flags take no value or
``=true``/``=false``; string flags need ``=value`` and may be given once;
list flags (``--mount``, ``--exclude``) may repeat.  Also owns
:func:`suggest`, the "did you mean" hint added to unknown names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum

__all__ = ["FlagKind", "FlagSpec", "FlagValues", "parse_flags", "suggest"]


class FlagKind(Enum):
    BOOL = "bool"
    STRING = "string"
    STRINGS = "strings"


FlagSpec = Mapping[str, FlagKind]
FlagValues = dict[str, "bool | str | tuple[str, ...]"]


class FlagError(Exception):
    """A bad flag; the caller attaches the location."""


def parse_flags(raw: Sequence[str], spec: FlagSpec) -> FlagValues:
    """Check ``raw`` (words like ``--from=build``) against ``spec``.

    Returns only the flags that were given: bools as bool, strings as str,
    lists as tuples.  Raises :class:`FlagError` with BuildKit's wording.
    """
    values: FlagValues = {}
    for word in raw:
        if word == "--":
            break
        name, has_value, value = word.removeprefix("--").partition("=")
        kind = spec.get(name)
        if kind is None:
            raise FlagError(f"unknown flag: {name}" + suggest(name, list(spec)))
        if name in values and kind is not FlagKind.STRINGS:
            raise FlagError(f"duplicate flag specified: {name}")
        if kind is FlagKind.BOOL:
            values[name] = _bool_value(name, value, bool(has_value))
        elif not has_value:
            raise FlagError(f"missing a value on flag: {name}")
        elif kind is FlagKind.STRING:
            values[name] = value
        else:
            previous = values.get(name, ())
            assert isinstance(previous, tuple)
            values[name] = (*previous, value)
    return values


def _bool_value(name: str, value: str, has_value: bool) -> bool:
    if has_value and not value:
        raise FlagError(f"missing a value on flag: {name}")
    lowered = value.lower()
    if lowered in ("", "true"):
        return True
    if lowered == "false":
        return False
    raise FlagError(f"expecting boolean value for flag {name}, not: {value}")


def suggest(word: str, options: Sequence[str]) -> str:
    """`` (did you mean X?)`` for the closest option within a small edit distance."""
    lowered = word.lower()
    best, best_distance = "", 3
    for option in sorted(options):
        distance = _levenshtein(lowered, option.lower())
        if distance < best_distance:
            best, best_distance = option, distance
    if not best or best_distance >= len(word):
        return ""
    return f" (did you mean {best}?)"


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
