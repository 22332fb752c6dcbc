"""Frozen, slotted records, made cheaply: ``@record`` for ``@dataclass(frozen=True, slots=True)``.

Every seam type in ocibuild is a small immutable record.  The standard
``dataclass`` decorator writes each method as source text and compiles it
with its own ``exec``: six compilations for a frozen class, plus a second
class for ``slots=True``, about 0.5 ms a class on Python 3.11.  With about a
hundred such classes on the way to a build, that was a third of a warm
build's time (docs/design/010-records.md).  ``record`` compiles only
``__init__`` (so constructing an instance costs what a dataclass costs) and
gives every class the same prebuilt ``__repr__``, ``__eq__``, ``__hash__``,
ordering and frozen ``__setattr__``, which read the fields through one
``operator.attrgetter``.

What it keeps from ``dataclasses``, so the classes read and type-check the
same (``typing.dataclass_transform`` tells mypy): fields from annotations in
class order after the fields of record bases; ``ClassVar`` annotations
skipped; defaults and ``field(default=, default_factory=, init=, repr=,
compare=)``; ``__post_init__``; ``__match_args__``; eq and hash over the
compared fields; ``order=True``; ``frozen=False`` for mutable records
(unhashable, as ``dataclass(eq=True)`` makes them); methods written in the
class body win over generated ones.  ``replace``, ``fields``, ``asdict`` and
``is_record`` stand in for their ``dataclasses`` namesakes.

What it leaves out: ``InitVar``, ``kw_only``, ``unsafe_hash``, and a
``__class__`` cell for zero-argument ``super()`` in record methods (the same
limitation as ``dataclass(slots=True)`` on Python 3.11).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform, overload

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Field",
    "FrozenInstanceError",
    "asdict",
    "field",
    "fields",
    "is_record",
    "record",
    "replace",
]

_T = TypeVar("_T")
_FIELDS = "__record_fields__"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """An attribute of a frozen record was assigned or deleted."""


class Field:
    """One field of a record: its name, default or factory and what it takes part in."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | None = None,
        *,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        if default is not MISSING and default_factory is not None:
            raise ValueError("a field cannot have both a default and a default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    """A field with a default, a factory, or left out of ``__init__``, ``repr`` or comparisons."""
    return Field(default, default_factory, init=init, repr=repr, compare=compare)


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, frozen: bool = True, order: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(
    cls: type[_T] | None = None, /, *, frozen: bool = True, order: bool = False
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """Make ``cls`` a slotted record: frozen unless ``frozen=False``, ordered if ``order=True``."""

    def wrap(cls: type[_T]) -> type[_T]:
        return _build(cls, frozen=frozen, order=order)

    return wrap if cls is None else wrap(cls)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a record class or instance, in ``__init__`` order."""
    found: tuple[Field, ...] | None = getattr(obj, _FIELDS, None)
    if found is None:
        raise TypeError(f"{obj!r} is not a record")
    return found


def is_record(obj: object) -> bool:
    """Whether ``obj`` is a record instance (not a record class)."""
    return hasattr(type(obj), _FIELDS)


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of record ``obj`` with ``changes`` applied (through ``__init__``)."""
    for f in fields(obj):
        if f.init and f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
        elif not f.init and f.name in changes:
            raise ValueError(f"field {f.name} is not an __init__ argument")
    return type(obj)(**changes)


def asdict(obj: object) -> Any:
    """``obj`` with records turned into dicts, recursively through tuples, lists and dicts."""
    if is_record(obj):
        return {f.name: asdict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((asdict(k), asdict(v)) for k, v in obj.items())
    return obj


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))


def _annotations(cls: type) -> dict[str, object]:
    # inspect.get_annotations would cost importing inspect (and ast, dis,
    # tokenize): the import this module exists to avoid.
    found: dict[str, object] = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    return found


def _collect(cls: type) -> dict[str, Field]:
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get(_FIELDS, ()):
            found[f.name] = f
    for name, annotation in _annotations(cls).items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(value)
        f.name = name
        found[name] = f
    seen_default = False
    for f in found.values():
        if not f.init:
            continue
        has_default = f.default is not MISSING or f.default_factory is not None
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has_default
    return found


def _build(cls: type[_T], *, frozen: bool, order: bool) -> type[_T]:
    found = _collect(cls)
    own = _annotations(cls)
    inherited_slots = {s for base in cls.__mro__[1:] for s in base.__dict__.get("__slots__", ())}
    namespace = {
        k: v
        for k, v in cls.__dict__.items()
        if k not in found and k not in ("__dict__", "__weakref__")
    }
    namespace["__slots__"] = tuple(n for n in own if n in found and n not in inherited_slots)
    metaclass: Any = type(cls)
    new: type[_T] = metaclass(cls.__name__, cls.__bases__, namespace)
    methods = _methods(new, found, frozen=frozen, order=order)
    for name, method in methods.items():
        if name not in namespace or (name == "__hash__" and namespace[name] is None):
            setattr(new, name, method)
    setattr(new, "__match_args__", tuple(n for n, f in found.items() if f.init))  # noqa: B010
    setattr(new, _FIELDS, tuple(found.values()))
    return new


def _methods(cls: type, found: dict[str, Field], *, frozen: bool, order: bool) -> dict[str, Any]:
    names = tuple(n for n, f in found.items() if f.compare)
    key: Callable[[object], Any] = attrgetter(*names) if names else _no_key
    shown = tuple(n for n, f in found.items() if f.repr)
    methods: dict[str, Any] = {
        "__init__": _lazy_init(cls, found, frozen=frozen),
        "__repr__": _repr(shown),
        "__eq__": _compare(key, _eq),
        "__reduce__": _reduce(tuple(n for n, f in found.items() if f.init)),
    }
    if frozen:
        methods["__hash__"] = lambda self: hash(key(self))
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
    else:
        methods["__hash__"] = None
    if order:
        for name, op in (("__lt__", _lt), ("__le__", _le), ("__gt__", _gt), ("__ge__", _ge)):
            methods[name] = _compare(key, op)
    return methods


def _no_key(obj: object) -> tuple[()]:
    return ()


def _eq(a: Any, b: Any) -> bool:
    return bool(a == b)


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


def _compare(key: Callable[[object], Any], op: Callable[[Any, Any], bool]) -> Any:
    def method(self: object, other: object) -> Any:
        if other.__class__ is self.__class__:
            return op(key(self), key(other))
        return NotImplemented

    return method


def _repr(shown: tuple[str, ...]) -> Any:
    def __repr__(self: object) -> str:  # noqa: N807 - becomes the method
        parts = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        return f"{type(self).__qualname__}({parts})"

    return __repr__


def _reduce(init_names: tuple[str, ...]) -> Any:
    def __reduce__(self: object) -> tuple[Any, ...]:  # noqa: N807 - becomes the method
        return (_rebuild, (type(self), tuple(getattr(self, n) for n in init_names)))

    return __reduce__


def _rebuild(cls: type[_T], values: tuple[Any, ...]) -> _T:
    names = [f.name for f in fields(cls) if f.init]
    return cls(**dict(zip(names, values, strict=True)))


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


#: Calls served by the interpreted ``__init__`` before the compiled one replaces it.
COMPILE_AFTER = 8


def _lazy_init(cls: type, found: dict[str, Field], *, frozen: bool) -> Any:
    """An ``__init__`` that binds arguments in a loop (:func:`_bind`) for the first
    :data:`COMPILE_AFTER` calls, then compiles the real one and puts it on ``cls``.

    Most record classes on the way to a build are never instantiated by that
    build, or a handful of times: they do not pay for an ``exec`` (about
    70 us each, 4 ms of a rebuild); the classes made by the thousand do.
    """
    calls = [0]
    init_names = tuple(n for n, f in found.items() if f.init)
    post_init = hasattr(cls, "__post_init__")

    def __init__(self: object, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - becomes the method
        calls[0] += 1
        if calls[0] > COMPILE_AFTER:
            init = _init(cls, found, frozen=frozen)
            type.__setattr__(cls, "__init__", init)
            init(self, *args, **kwargs)
            return
        values = _bind(cls, init_names, args, kwargs)
        put = object.__setattr__ if frozen else setattr
        for name, f in found.items():
            value = values.get(name, _MISSING_ARG) if f.init else _MISSING_ARG
            if value is _MISSING_ARG or (value is MISSING and f.default_factory is not None):
                if f.default_factory is not None:
                    value = f.default_factory()
                elif f.default is not MISSING:
                    value = f.default
                elif f.init:
                    raise TypeError(
                        f"{cls.__qualname__}.__init__() missing required argument: {name!r}"
                    )
                else:
                    continue
            put(self, name, value)
        if post_init:
            self.__post_init__()  # type: ignore[attr-defined]

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


_MISSING_ARG = object()


def _bind(
    cls: type, names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``args`` and ``kwargs`` by field name, refused as Python refuses a bad call."""
    where = f"{cls.__qualname__}.__init__()"
    if len(args) > len(names):
        raise TypeError(
            f"{where} takes {len(names) + 1} positional arguments but {len(args) + 1} were given"
        )
    values = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name not in names:
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
        if name in values:
            raise TypeError(f"{where} got multiple values for argument {name!r}")
        values[name] = value
    return values


def _init(cls: type, found: dict[str, Field], *, frozen: bool) -> Any:
    """Compile ``__init__`` for ``found``: the one method worth its ``exec``."""
    params = ["self"]
    body = []
    scope: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": MISSING}
    for name, f in found.items():
        if f.default_factory is not None:
            scope[f"_f_{name}"] = f.default_factory
            value = f"_f_{name}() if {name} is _MISSING else {name}" if f.init else f"_f_{name}()"
            default = "=_MISSING"
        elif f.default is not MISSING:
            scope[f"_d_{name}"] = f.default
            value = name if f.init else f"_d_{name}"
            default = f"=_d_{name}"
        elif f.init:
            value, default = name, ""
        else:
            continue
        if f.init:
            params.append(name + default)
        body.append(f"  _set(self, {name!r}, {value})" if frozen else f"  self.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    source = (
        f"def __make__({', '.join(scope)}):\n"
        f" def __init__({', '.join(params)}):\n" + ("\n".join(body) or "  pass") + "\n"
        " return __init__\n"
    )
    made: dict[str, Any] = {}
    exec(source, {}, made)  # noqa: S102 - our own generated text, as dataclasses does
    init = made["__make__"](**scope)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init
