"""The state of a stage between two steps, and the helpers that derive it.

A :class:`StageState` is frozen: every step handler takes one and returns a
new one.  The image config carries the environment, working dir, user, shell
and history; the state adds what is not in the config (the layers as blobs,
the ARGs in scope, whether this stage set CMD) and the build-wide facts a
handler needs (:class:`StepContext`).
"""

from __future__ import annotations

import bisect
import threading
from typing import TYPE_CHECKING, Generic, TypeVar

from ocibuild._record import record, replace
from ocibuild._seq import Seq
from ocibuild.executor.history import COMMENT
from ocibuild.oci import ContainerConfig, HistoryEntry, ImageConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ocibuild.layer import LayerBlob
    from ocibuild.plan.cachekey import CacheKey

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_SHELL",
    "StageState",
    "empty_config",
    "env_dict",
    "set_env",
    "set_labels",
]

T = TypeVar("T")

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class _DictsByIdentity(Generic[T]):
    """The dicts of the last few tuples, by the tuple's identity (each entry
    holds its tuple, so its id is not reused while it is here).

    Every step reads its stage's env and ARGs as dicts, and an ENV or ARG
    step adds a key: made once per tuple, and a new key copies the dict in C,
    so a step in a stage of thousands of keys does not walk them in Python
    (10,000 distinct ENV keys took 28 s, quadratic in that walk).  Never
    mutate a dict it returns.
    """

    def __init__(self, derive: Callable[[T], dict[str, str]], size: int = 32) -> None:
        self._derive = derive
        self._size = size
        self._memo: dict[int, tuple[T, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: T) -> dict[str, str]:
        hit = self._memo.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
        mapping = self._derive(key)
        self.put(key, mapping)
        return mapping

    def put(self, key: T, mapping: dict[str, str]) -> None:
        """Remember ``mapping`` as the dict of ``key`` (the caller made it so)."""
        with self._lock:
            if len(self._memo) >= self._size:
                del self._memo[next(iter(self._memo))]  # the oldest
            self._memo[id(key)] = (key, mapping)


def _parse_env(env: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


_env_map = _DictsByIdentity(_parse_env)
_args_map: _DictsByIdentity[tuple[tuple[str, str], ...]] = _DictsByIdentity(dict)


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    """``KEY=value`` strings as a dict (a later duplicate wins)."""
    return dict(_env_map(env))


def set_env(env: tuple[str, ...], key: str, value: str) -> tuple[str, ...]:
    """Set ``key`` in an env list: replaced in place if present, else appended."""
    entry = f"{key}={value}"
    known = _env_map(env)
    if key not in known:
        appended = (*env, entry)
        _env_map.put(appended, {**known, key: value})
        return appended
    items = list(env)
    for i, item in enumerate(items):
        if item.partition("=")[0] == key:
            items[i] = entry
            break
    return tuple(items)


def set_labels(
    labels: tuple[tuple[str, str], ...], pairs: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Set each of ``pairs`` in a config's labels, kept sorted by key with each
    key once (as every :class:`~ocibuild.oci.ContainerConfig` holds them).

    A binary search and one list insert per key: re-sorting on each LABEL
    made thousands of distinct LABEL keys quadratic in Python comparisons.
    """
    items = list(labels)
    for key, value in pairs:
        i = bisect.bisect_left(items, (key,))  # (key,) sorts just before (key, any value)
        if i < len(items) and items[i][0] == key:
            items[i] = (key, value)
        else:
            items.insert(i, (key, value))
    return tuple(items)


@record
class StageState:
    """A stage after some of its steps.

    ``config.diff_ids`` always matches ``layers``; ``args`` are the ARGs in
    scope with their values (an ARG without value is left out of ``args``);
    ``arg_names`` are all ARGs declared in scope, in order (RUN's history
    lists them, valueless ones as ``NAME=``).  ``cache_key`` is the stage's
    running build-cache key after these steps; ``own_history`` the index of the
    first history entry this build wrote, ``step_keys`` the cache records this
    stage's steps looked up or made (docs/design/008-build-cache.md).
    ``volatile`` says a step ran that no cache record stands for (ADD of a
    URL without ``--checksum``): a rebuild of the same inputs runs it again.
    What grows by one per step (``layers``, ``step_keys`` and the config's
    ``history`` and ``diff_ids``) grows as a :class:`~ocibuild._seq.Seq`, so a
    step costs the same at the 100,000th instruction as at the first.
    """

    config: ImageConfig
    layers: Sequence[LayerBlob] = ()
    args: tuple[tuple[str, str], ...] = ()
    cmd_set: bool = False
    arg_names: tuple[str, ...] = ()
    cache_key: CacheKey | None = None
    own_history: int = 0
    step_keys: Sequence[str] = ()
    volatile: bool = False

    @property
    def env(self) -> dict[str, str]:
        """The image's ENV as a dict."""
        return env_dict(self.config.config.env)

    @property
    def expansion_env(self) -> dict[str, str]:
        """What ``$VAR`` sees in a step: ARGs in scope, overridden by ENV."""
        return {**_args_map(self.args), **_env_map(self.config.config.env)}

    @property
    def shell(self) -> tuple[str, ...]:
        return self.config.config.shell or DEFAULT_SHELL

    @property
    def workdir(self) -> str:
        return self.config.config.working_dir or "/"

    @property
    def user(self) -> str:
        return self.config.config.user

    @property
    def history(self) -> Sequence[HistoryEntry]:
        return self.config.history

    def with_config(self, **changes: object) -> StageState:
        """A copy whose container config has ``changes`` applied."""
        container = replace(self.config.config, **changes)
        return replace(self, config=replace(self.config, config=container))

    def with_history(self, created: str, created_by: str, *, empty_layer: bool) -> StageState:
        """A copy with one more BuildKit-style history entry."""
        entry = HistoryEntry(
            created=created, created_by=created_by, comment=COMMENT, empty_layer=empty_layer
        )
        history = Seq.of(self.config.history).appended(entry)
        return replace(self, config=replace(self.config, history=history, created=created))

    def with_layer(self, blob: LayerBlob) -> StageState:
        """A copy with ``blob`` stacked on top (its diff_id appended)."""
        config = replace(self.config, diff_ids=Seq.of(self.config.diff_ids).appended(blob.diff_id))
        return replace(self, config=config, layers=Seq.of(self.layers).appended(blob))

    def with_step_key(self, key: str) -> StageState:
        """A copy that also names the cache record ``key`` among its steps'."""
        return replace(self, step_keys=Seq.of(self.step_keys).appended(key))

    def with_arg(self, name: str, value: str | None) -> StageState:
        """A copy with ARG ``name`` in scope (``None``: declared but unset)."""
        known = _args_map(self.args)
        kept = tuple((k, v) for k, v in self.args if k != name) if name in known else self.args
        names = self.arg_names if name in self.arg_names else (*self.arg_names, name)
        args = kept if value is None else (*kept, (name, value))
        if value is not None and name not in known:
            _args_map.put(args, {**known, name: value})
        return replace(self, args=args, arg_names=names)


def empty_config(os: str, architecture: str, variant: str = "") -> ImageConfig:
    """The config of ``FROM scratch``: PATH and WorkingDir ``/``, as BuildKit 20.10 sets."""
    container = ContainerConfig(env=(f"PATH={DEFAULT_PATH}",), working_dir="/")
    return ImageConfig(architecture=architecture, os=os, variant=variant, config=container)
