"""Pick out the image-config fields that conformance compares.

Owns the list of fields that matter and their normalisation: an absent
field, null, ``[]`` and ``{}`` all mean "unset" to Docker, so they compare
equal.  Timestamps, ids, and the builder's own bookkeeping (``container``,
``docker_version``, ``created``) are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

CONFIG_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
    "ArgsEscaped",
)


def _unset(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def history(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The config's history list, [] when there is none."""
    return list(config.get("history") or [])


def summarise(
    config: Mapping[str, Any], base_history: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The comparable view of an image config.

    ``base_history`` is the history of the imported base image as this
    builder's store holds it; when the image's history starts with it, that
    prefix is dropped, so the two builders' ways of recording an import do
    not count as a difference.
    """
    inner: Mapping[str, Any] = config.get("config") or {}
    fields = {key: inner.get(key) for key in CONFIG_FIELDS if not _unset(inner.get(key))}
    entries = history(config)
    prefix = list(base_history)
    if prefix and entries[: len(prefix)] == prefix:
        entries = entries[len(prefix) :]
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    return {
        "os": config.get("os"),
        "architecture": config.get("architecture"),
        "config": fields,
        "history": [
            {"created_by": h.get("created_by", ""), "empty_layer": bool(h.get("empty_layer"))}
            for h in entries
        ],
        "layers": len(diff_ids),
        "non_empty_history": sum(1 for h in history(config) if not h.get("empty_layer")),
    }
