"""An immutable sequence that grows by one item in O(1): Go's ``append`` for records.

A stage's image config gains one history entry per instruction, and one
diff_id and layer per layer step.  Kept in tuples, every step copied all of
them (``(*history, entry)``), so a Dockerfile of n instructions cost O(n^2):
about 40 s for 100,000 ``ENV`` lines.  :class:`Seq` shares one backing list
between versions, as Go slices share their array: ``s.appended(x)`` on the
newest version (the usual case: each step extends the state it was given)
appends in place and returns a longer view; on an older version it copies
first, so no version ever sees another's items.  A lock per backing list
keeps two threads extending the same version (two stages built on one
``FROM`` stage) from both appending in place.

A ``Seq`` equals (and hashes as) the tuple of its items, so records holding
one compare equal to records holding that tuple.  ``Seq.copies`` counts the
items copied by :meth:`Seq.appended`, so a test can check that growing a
sequence one item at a time copies O(n) items in all, not O(n^2).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar, TypeVar, overload

__all__ = ["Seq"]

_T = TypeVar("_T")


class _Backing(list[_T]):
    """The list behind some ``Seq`` versions, with the lock that guards appending."""

    __slots__ = ("lock",)

    def __init__(self, items: Iterable[_T] = ()) -> None:
        super().__init__(items)
        self.lock = threading.Lock()


class Seq(Sequence[_T]):
    """The first ``len(self)`` items of a backing list that only ever grows."""

    __slots__ = ("_items", "_len")

    copies: ClassVar[int] = 0
    """Items copied so far by :meth:`appended` (for tests that count work)."""

    def __init__(self, items: Iterable[_T] = ()) -> None:
        self._items: _Backing[_T] = _Backing(items)
        self._len = len(self._items)

    @classmethod
    def of(cls, items: Iterable[_T]) -> Seq[_T]:
        """``items`` as a ``Seq`` (itself when it already is one)."""
        return items if isinstance(items, Seq) else cls(items)

    def appended(self, item: _T) -> Seq[_T]:
        """A ``Seq`` of these items and ``item``; this one is unchanged."""
        backing = self._items
        with backing.lock:
            if len(backing) == self._len:
                backing.append(item)
                return self._view(backing, self._len + 1)
        Seq.copies += self._len
        return Seq((*backing[: self._len], item))

    @staticmethod
    def _view(backing: _Backing[_T], length: int) -> Seq[_T]:
        view: Seq[_T] = Seq.__new__(Seq)
        view._items, view._len = backing, length
        return view

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[_T, ...]: ...
    def __getitem__(self, index: int | slice) -> _T | tuple[_T, ...]:
        if isinstance(index, slice):
            return tuple(self._items[: self._len][index])
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("Seq index out of range")
        return self._items[index]

    def __iter__(self) -> Iterator[_T]:
        items = self._items
        for i in range(self._len):
            yield items[i]

    def __reversed__(self) -> Iterator[_T]:
        items = self._items
        for i in range(self._len - 1, -1, -1):
            yield items[i]

    def __bool__(self) -> bool:
        return self._len > 0

    def tuple(self) -> tuple[_T, ...]:
        return tuple(self._items[: self._len])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Seq):
            if self._items is other._items:
                return self._len == other._len
            return self._len == other._len and self.tuple() == other.tuple()
        if isinstance(other, tuple):
            return self._len == len(other) and self.tuple() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.tuple())

    def __repr__(self) -> str:
        return f"Seq({list(self)!r})"
