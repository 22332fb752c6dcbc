"""The image configuration (``application/vnd.oci.image.config.v1+json``).

Field names are Docker's; empty fields are omitted the way BuildKit's Go
structs do (``omitempty``), except ``OnBuild``, which BuildKit always writes
(``null`` when empty).  Unknown fields of configs read from elsewhere (such as
``container_config``, ``docker_version`` or ``Hostname`` in configs made by the
classic builder) are dropped, as BuildKit drops them when it builds on a base
image; the original bytes stay in the store under their own digest.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from ocibuild._record import field, record
from ocibuild.oci._json import InvalidDocumentError, canonical, load_object
from ocibuild.oci.digest import Digest, InvalidDigestError
from ocibuild.oci.platform import Platform

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["ContainerConfig", "Healthcheck", "HistoryEntry", "ImageConfig", "format_timestamp"]

_HEALTH_FIELDS = (
    ("Interval", "interval"),
    ("Timeout", "timeout"),
    ("StartPeriod", "start_period"),
    ("StartInterval", "start_interval"),
    ("Retries", "retries"),
)


def format_timestamp(seconds: float | _dt.datetime) -> str:
    """RFC 3339 in UTC as Go writes it (``2024-01-02T03:04:05Z``, nanoseconds trimmed)."""
    when = (
        seconds
        if isinstance(seconds, _dt.datetime)
        else _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    )
    when = when.astimezone(_dt.UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidDocumentError(f"invalid image config: expected a list, got {value!r}")
    return tuple(str(v) for v in value)


def _keys(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidDocumentError(f"invalid image config: expected an object, got {value!r}")
    return tuple(sorted(str(k) for k in value))


def _int(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidDocumentError(f"invalid image config: expected an integer, got {value!r}")
    return value


@record
class Healthcheck:
    """HEALTHCHECK settings; durations in nanoseconds as Docker stores them."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"Test": list(self.test)} if self.test else {}
        for key, attr in _HEALTH_FIELDS:
            if getattr(self, attr):
                obj[key] = getattr(self, attr)
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Healthcheck:
        values = {attr: _int(obj.get(key)) for key, attr in _HEALTH_FIELDS}
        return cls(test=_strs(obj.get("Test")), **values)


@record
class ContainerConfig:
    """The ``config`` object: how to run a container from the image.

    ``labels`` are sorted by key, each key once (``from_json`` makes them so;
    the executor's ``set_labels`` keeps them so).
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str = ""
    healthcheck: Healthcheck | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()
    args_escaped: bool = False

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"OnBuild": list(self.on_build) or None}
        scalars = {
            "User": self.user,
            "WorkingDir": self.working_dir,
            "StopSignal": self.stop_signal,
        }
        lists = {"Env": self.env, "Entrypoint": self.entrypoint, "Cmd": self.cmd}
        sets = {"ExposedPorts": self.exposed_ports, "Volumes": self.volumes}
        obj.update({k: v for k, v in scalars.items() if v})
        obj.update({k: list(v) for k, v in lists.items() if v})
        obj.update({k: {item: {} for item in v} for k, v in sets.items() if v})
        if self.shell:
            obj["Shell"] = list(self.shell)
        if self.labels:
            obj["Labels"] = dict(self.labels)
        if self.healthcheck is not None:
            obj["Healthcheck"] = self.healthcheck.to_json()
        if self.args_escaped:
            obj["ArgsEscaped"] = True
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ContainerConfig:
        labels = obj.get("Labels")
        labels = {} if labels is None else labels
        health = obj.get("Healthcheck")
        if not isinstance(labels, dict) or not isinstance(health, dict | None):
            raise InvalidDocumentError("invalid image config: Labels/Healthcheck must be objects")
        return cls(
            user=str(obj.get("User") or ""),
            exposed_ports=_keys(obj.get("ExposedPorts")),
            env=_strs(obj.get("Env")),
            entrypoint=_strs(obj.get("Entrypoint")),
            cmd=_strs(obj.get("Cmd")),
            volumes=_keys(obj.get("Volumes")),
            working_dir=str(obj.get("WorkingDir") or ""),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
            stop_signal=str(obj.get("StopSignal") or ""),
            healthcheck=Healthcheck.from_json(health) if health is not None else None,
            on_build=_strs(obj.get("OnBuild")),
            shell=_strs(obj.get("Shell")),
            args_escaped=bool(obj.get("ArgsEscaped")),
        )


@record
class HistoryEntry:
    """One ``history`` record; ``empty_layer`` when it added no layer."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            k: v
            for k, v in (
                ("created", self.created),
                ("created_by", self.created_by),
                ("author", self.author),
                ("comment", self.comment),
            )
            if v
        }
        if self.empty_layer:
            obj["empty_layer"] = True
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            created=str(obj.get("created") or ""),
            created_by=str(obj.get("created_by") or ""),
            author=str(obj.get("author") or ""),
            comment=str(obj.get("comment") or ""),
            empty_layer=bool(obj.get("empty_layer")),
        )


@record
class ImageConfig:
    """An image configuration document; ``diff_ids`` is ``rootfs.diff_ids``.

    ``diff_ids`` and ``history`` are tuples when read, and may be an
    :class:`ocibuild._seq.Seq` (equal to the tuple of its items) in a config
    the executor is building, which appends to them once per step.
    """

    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    created: str = ""
    author: str = ""
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: Sequence[Digest] = ()
    history: Sequence[HistoryEntry] = ()

    @property
    def platform(self) -> Platform:
        """The platform this image is for."""
        return Platform(self.os, self.architecture, self.variant, self.os_version)

    def to_json(self) -> bytes:
        """Canonical bytes: sorted keys, compact, empty fields omitted like BuildKit."""
        obj: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "config": self.config.to_json(),
            "rootfs": {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]},
        }
        optional = {
            "variant": self.variant,
            "os.version": self.os_version,
            "created": self.created,
            "author": self.author,
        }
        obj.update({k: v for k, v in optional.items() if v})
        if self.os_features:
            obj["os.features"] = list(self.os_features)
        if self.history:
            obj["history"] = [h.to_json() for h in self.history]
        return canonical(obj)

    @classmethod
    def from_json(cls, data: bytes | str) -> ImageConfig:
        """Parse a config; raises :class:`InvalidDocumentError` when malformed."""
        obj = load_object(data, "image config")
        rootfs = obj.get("rootfs") or {}
        history = obj.get("history")
        history = [] if history is None else history
        config = obj.get("config") or {}
        if not isinstance(history, list) or not all(
            isinstance(x, dict) for x in (rootfs, config, *history)
        ):
            raise InvalidDocumentError("invalid image config: rootfs/config/history entries")
        try:
            diff_ids = tuple(Digest.parse(str(d)) for d in _strs(rootfs.get("diff_ids")))
        except InvalidDigestError as err:
            raise InvalidDocumentError(f"invalid image config: {err}") from None
        return cls(
            architecture=str(obj.get("architecture") or ""),
            os=str(obj.get("os") or ""),
            variant=str(obj.get("variant") or ""),
            os_version=str(obj.get("os.version") or ""),
            os_features=_strs(obj.get("os.features")),
            created=str(obj.get("created") or ""),
            author=str(obj.get("author") or ""),
            config=ContainerConfig.from_json(config),
            diff_ids=diff_ids,
            history=tuple(HistoryEntry.from_json(h) for h in history),
        )
