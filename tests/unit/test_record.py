"""ocibuild._record: records behave like frozen slotted dataclasses."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ocibuild._record import (
    COMPILE_AFTER,
    FrozenInstanceError,
    asdict,
    field,
    fields,
    is_record,
    record,
    replace,
)

if TYPE_CHECKING:
    from collections.abc import Callable


@record
class Point:
    x: int
    label: str = "p"
    tags: tuple[str, ...] = field(default_factory=tuple)
    hidden: int = field(default=0, repr=False, compare=False)
    kind: ClassVar[str] = "point"

    def norm(self) -> int:
        return abs(self.x)


@record(order=True)
class Version:
    major: int
    minor: int = 0


@record(frozen=False)
class Counter:
    n: int
    seen: list[int] = field(default_factory=list)


@record
class Checked(Point):
    limit: int = 10

    def __post_init__(self) -> None:
        if self.x > self.limit:
            raise ValueError("over the limit")


def test_init_defaults_factories_and_classvar() -> None:
    p = Point(3)
    assert (p.x, p.label, p.tags, p.hidden) == (3, "p", (), 0)
    assert Point.kind == "point"
    assert [f.name for f in fields(Point)] == ["x", "label", "tags", "hidden"]
    assert Point.__match_args__ == ("x", "label", "tags", "hidden")
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, nope=2)  # type: ignore[call-arg]


def test_factories_are_called_per_instance() -> None:
    a, b = Counter(1), Counter(2)
    a.seen.append(1)
    assert b.seen == []


def test_frozen_and_slotted() -> None:
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.x
    assert not hasattr(p, "__dict__")
    assert isinstance(FrozenInstanceError("x"), AttributeError)


def test_eq_hash_repr_skip_excluded_fields() -> None:
    assert Point(1, hidden=5) == Point(1, hidden=6)
    assert hash(Point(1, hidden=5)) == hash(Point(1))
    assert Point(1) != Point(2)
    assert Point(1) != Checked(1)  # same fields, other class
    assert repr(Point(1, tags=("a",))) == "Point(x=1, label='p', tags=('a',))"
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_order() -> None:
    assert sorted([Version(2), Version(1, 5), Version(1)]) == [
        Version(1),
        Version(1, 5),
        Version(2),
    ]
    assert Version(1) < Version(1, 1) <= Version(1, 1) < Version(2)
    with pytest.raises(TypeError):
        _ = Point(1) < Point(2)  # type: ignore[operator]


def test_mutable_record_is_unhashable() -> None:
    c = Counter(1)
    c.n = 2
    assert c == Counter(2)
    with pytest.raises(TypeError):
        hash(c)


def test_inheritance_and_post_init() -> None:
    c = Checked(1, limit=5)
    assert [f.name for f in fields(c)] == ["x", "label", "tags", "hidden", "limit"]
    assert c.norm() == 1
    with pytest.raises(ValueError, match="over the limit"):
        Checked(9, limit=5)


def test_replace_asdict_and_is_record() -> None:
    p = Point(1, tags=("a",))
    q = replace(p, label="q")
    assert (q.x, q.label, q.tags) == (1, "q", ("a",))
    assert p.label == "p"
    assert asdict(Checked(1)) == {"x": 1, "label": "p", "tags": (), "hidden": 0, "limit": 10}
    assert asdict({"k": [Version(1)]}) == {"k": [{"major": 1, "minor": 0}]}
    assert is_record(p)
    assert not is_record(Point)
    assert not is_record(object())
    with pytest.raises(TypeError):
        fields(object())


def test_pickle_and_copy() -> None:
    p = Checked(2, tags=("x",))
    assert pickle.loads(pickle.dumps(p)) == p
    assert copy.copy(p) == p
    assert copy.deepcopy(p) == p


def test_non_default_after_default_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b'"):

        @record
        class Bad:
            a: int = 0
            b: int  # type: ignore[misc]


def test_body_methods_win() -> None:
    @record
    class Shown:
        a: int

        def __repr__(self) -> str:
            return "shown"

    assert repr(Shown(1)) == "shown"


def test_first_instances_from_many_threads() -> None:
    @record
    class Fresh:
        a: int
        b: str = "b"

    made: list[Fresh] = []
    threads = [threading.Thread(target=lambda: made.append(Fresh(1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == [Fresh(1)] * 8


def test_a_build_imports_no_dataclasses() -> None:
    code = (
        "import sys, ocibuild.api, ocibuild.executor.executor; print('dataclasses' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_module_uses_dataclasses() -> None:
    """Seam types are records (docs/design/010-records.md), so nothing pays for dataclasses."""
    package = Path(__file__).resolve().parents[2] / "ocibuild"
    users = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "_record.py" and "dataclasses" in path.read_text()
    ]
    assert users == []


def _fresh() -> type[Any]:
    @record
    class Fresh:
        a: int
        b: str = "b"
        items: list[int] = field(default_factory=list)
        hidden: int = field(default=7, init=False)
        made: list[int] = field(default_factory=lambda: [1], init=False)

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    return Fresh


_CALLS: list[Callable[[type[Any]], object]] = [
    lambda c: c(1),
    lambda c: c(1, "x"),
    lambda c: c(a=1, b="y", items=[2]),
    lambda c: c(1, items=[3]),
    lambda c: c(),
    lambda c: c(1, "x", [], 4),
    lambda c: c(1, a=2),
    lambda c: c(1, hidden=3),
    lambda c: c(1, nope=3),
    lambda c: c(-1),
]


def _outcome(call: Callable[[type[Any]], object], cls: type[Any]) -> str:
    try:
        made = call(cls)
    except (TypeError, ValueError) as err:
        return type(err).__name__
    return repr((made, made.hidden, made.made))  # type: ignore[attr-defined]


def test_interpreted_and_compiled_init_agree() -> None:
    """The first COMPILE_AFTER instances bind arguments in a loop, later ones run
    the compiled __init__: both must build and refuse the same calls."""
    interpreted = [_outcome(call, _fresh()) for call in _CALLS]  # each the class's first call
    compiled_cls = _fresh()
    for _ in range(COMPILE_AFTER + 1):
        compiled_cls(0)
    assert compiled_cls.__init__.__code__.co_filename == "<string>"  # the exec'd one
    compiled = [_outcome(call, compiled_cls) for call in _CALLS]
    assert interpreted == compiled
    assert interpreted[0] == "(Fresh(a=1, b='b', items=[], hidden=7, made=[1]), 7, [1])"
    assert interpreted[4:10] == ["TypeError"] * 5 + ["ValueError"]
