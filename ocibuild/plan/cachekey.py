"""Build-cache keys: a digest over readable parts, kept so a miss can be explained.

A step's :class:`CacheKey` is the sha256 of a canonical JSON list of
``(name, value)`` parts (docs/design/008-build-cache.md): the key of the step
before (``parent``), the expanded instruction, the platform, and whatever
else the step reads (env, sources checksum, ...).  The parts stay with the
key, like kaniko's CompositeCache, so :func:`explain` can say which part
differs between two keys.  Pure: computing the parts that need I/O (source
checksums, image digests) is the executor's job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ocibuild._record import fields, is_record, record
from ocibuild.oci import Digest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ocibuild.dockerfile.instructions import Instruction

__all__ = ["CacheKey", "base_key", "canonical_instruction", "explain", "key_for"]

_SKIPPED_FIELDS = frozenset({"span", "original"})
"""Where an instruction stands and how it was spelled do not change what it does."""


def _canonical(parts: Iterable[tuple[str, str]]) -> bytes:
    return json.dumps([list(p) for p in parts], separators=(",", ":"), ensure_ascii=False).encode()


@record
class CacheKey:
    """A step's cache key: ``digest`` is the sha256 of ``parts`` in canonical JSON."""

    digest: Digest
    parts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, parts: Iterable[tuple[str, str]]) -> CacheKey:
        """The key of exactly ``parts`` (in the order given)."""
        kept = tuple((str(name), str(value)) for name, value in parts)
        return cls(Digest.from_bytes(_canonical(kept)), kept)

    def __str__(self) -> str:
        return str(self.digest)

    def part(self, name: str) -> str | None:
        """The value of the first part called ``name``, or None."""
        return next((value for key, value in self.parts if key == name), None)


def key_for(parent: CacheKey | str, parts: Iterable[tuple[str, str]]) -> CacheKey:
    """The key of a step after ``parent`` (a step's key, or a base key's text)."""
    return CacheKey.of((("parent", str(parent)), *parts))


def base_key(base: str) -> CacheKey:
    """A stage's starting key: a manifest digest, ``scratch``, or a stage's final key."""
    return CacheKey.of((("base", base),))


def _plain(value: object) -> object:
    """Records as ``{"@": class name, field: value}``, tuples as lists."""
    if is_record(value):
        out: dict[str, object] = {"@": type(value).__name__}
        for f in fields(value):
            if f.name not in _SKIPPED_FIELDS:
                out[f.name] = _plain(getattr(value, f.name))
        return out
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def canonical_instruction(instr: Instruction) -> str:
    """An (expanded) instruction as canonical JSON, without its span or source text."""
    return json.dumps(_plain(instr), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def explain(a: CacheKey, b: CacheKey) -> str:
    """Why ``a`` and ``b`` differ: the first differing part, in one line."""
    if a.digest == b.digest:
        return "same key"
    for (name_a, value_a), (name_b, value_b) in zip(a.parts, b.parts, strict=False):
        if name_a != name_b:
            return f"part {name_a!r} where the other key has {name_b!r}"
        if value_a != value_b:
            return f"{name_a} differs: {_short(value_a)!r} != {_short(value_b)!r}"
    longer, shorter = (a, b) if len(a.parts) > len(b.parts) else (b, a)
    extra = longer.parts[len(shorter.parts)][0]
    return f"part {extra!r} is only in one key"
