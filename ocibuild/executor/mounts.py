"""``RUN --mount`` values and ``--secret`` values, parsed into typed records.

:func:`parse_mount` turns one expanded ``--mount`` value (``key=value``
pairs, comma-separated) into a :class:`BindMount`, :class:`CacheMount`,
:class:`TmpfsMount` or :class:`SecretMount`, with BuildKit 20.10's defaults
and error wording (checked against Docker 20.10):

* ``type`` defaults to ``bind``; an unknown type is ``unsupported mount type
  "x"``; a key another type does not take is ``unexpected key 'k' in 'k=v'``;
  a field without ``=`` is ``invalid field 'f' must be a key=value pair``
  (``ro``/``rw``/``readonly``/``readwrite``/``required`` may stand alone);
* booleans that do not parse: ``invalid value for ro: maybe``; numbers that do
  not parse: ``invalid value abc for mode``; a bad ``sharing``: ``unsupported
  sharing value "x"``;
* a missing target is ``invalid mount target "/"``; a secret's target
  defaults to ``/run/secrets/<id>`` and its id to the target's base name.

``tmpfs`` takes ``size`` (newer BuildKit does; 20.10 rejects it).  Secrets
take no ``env`` (20.10 rejects it).  :func:`parse_secret` reads the CLI's
``--secret id=ID[,src=PATH|env=VAR]``.
"""

from __future__ import annotations

import posixpath
from typing import Literal

from ocibuild._record import record
from ocibuild.errors import UserError

__all__ = [
    "BindMount",
    "CacheMount",
    "RunMount",
    "SecretMount",
    "SecretSource",
    "TmpfsMount",
    "parse_mount",
    "parse_secret",
]

Sharing = Literal["shared", "private", "locked"]


@record
class BindMount:
    """``source`` of ``from_`` (None: the context) at ``target``; ``rw`` writes are discarded."""

    target: str
    source: str = "/"
    from_: str | None = None
    rw: bool = False


@record
class CacheMount:
    """A persistent directory ``id`` (default: the target) at ``target``."""

    target: str
    id: str
    readonly: bool = False
    sharing: Sharing = "shared"
    from_: str | None = None
    source: str = "/"
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@record
class TmpfsMount:
    """A fresh tmpfs at ``target``; ``size`` in bytes (None: the kernel's default)."""

    target: str
    size: int | None = None


@record
class SecretMount:
    """The secret ``id`` as a read-only file at ``target``."""

    id: str
    target: str
    required: bool = False
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


RunMount = BindMount | CacheMount | TmpfsMount | SecretMount


@record
class SecretSource:
    """Where a ``--secret`` comes from: a host file ``src`` or an environment variable ``env``."""

    id: str
    src: str | None = None
    env: str | None = None


_KEYS = {
    "bind": {"target", "source", "from", "rw"},
    "cache": {"target", "id", "ro", "sharing", "from", "source", "mode", "uid", "gid"},
    "tmpfs": {"target", "size"},
    "secret": {"id", "target", "required", "mode", "uid", "gid"},
}
_ALIASES = {
    "dst": "target",
    "destination": "target",
    "src": "source",
    "readonly": "ro",
    "readwrite": "rw",
}
_FLAGS = {"ro", "rw", "required"}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _fields(value: str) -> tuple[str, dict[str, str]]:
    """The mount type and its other fields, keys de-aliased."""
    kind = "bind"
    fields: dict[str, str] = {}
    for raw in (f.strip() for f in value.split(",")):
        if not raw:
            continue
        key, eq, val = raw.partition("=")
        key = _ALIASES.get(key.lower(), key.lower())
        if not eq and key not in _FLAGS:
            raise UserError(f"invalid field '{raw}' must be a key=value pair")
        if key == "type":
            kind = val.lower()
            if kind not in _KEYS:
                raise UserError(f'unsupported mount type "{val}"')
            continue
        fields[key] = val if eq else "true"
        fields[f"raw:{key}"] = raw
    for key in [k for k in fields if not k.startswith("raw:")]:
        if key not in _KEYS[kind]:
            raise UserError(f"unexpected key '{key}' in '{fields['raw:' + key]}'")
    return kind, {k: v for k, v in fields.items() if not k.startswith("raw:")}


def _bool(fields: dict[str, str], key: str, default: bool) -> bool:
    if key not in fields:
        return default
    value = fields[key].lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    raise UserError(f"invalid value for {key}: {fields[key]}")


def _int(fields: dict[str, str], key: str, default: int, base: int = 10) -> int:
    if key not in fields:
        return default
    try:
        return int(fields[key], base)
    except ValueError:
        raise UserError(f"invalid value {fields[key]} for {key}") from None


def _size(value: str) -> int:
    text = value.strip().lower().removesuffix("ib").removesuffix("b")
    digits = text.rstrip("kmg")
    unit = text[len(digits) :]
    if not digits.isdigit() or unit not in _SIZE_UNITS:
        raise UserError(f"invalid value {value} for size")
    return int(digits) * _SIZE_UNITS[unit]


def _target(fields: dict[str, str]) -> str:
    target = posixpath.normpath(posixpath.join("/", fields.get("target", "")))
    if target == "/":
        raise UserError(f'invalid mount target "{target}"')
    return target


def parse_mount(value: str) -> RunMount:
    """One ``--mount`` value (already expanded) as its typed record."""
    kind, f = _fields(value)
    if kind == "secret":
        return _secret(f)
    target = _target(f)
    if kind == "tmpfs":
        return TmpfsMount(target, _size(f["size"]) if "size" in f else None)
    source = f.get("source", "/") or "/"
    if kind == "bind":
        return BindMount(target, source, f.get("from") or None, _bool(f, "rw", False))
    sharing = f.get("sharing", "shared").lower()
    if sharing not in ("shared", "private", "locked"):
        raise UserError(f'unsupported sharing value "{f["sharing"]}"')
    return CacheMount(
        target=target,
        id=f.get("id") or target,
        readonly=_bool(f, "ro", False),
        sharing=sharing,  # type: ignore[arg-type]
        from_=f.get("from") or None,
        source=source,
        mode=_int(f, "mode", 0o755, 8),
        uid=_int(f, "uid", 0),
        gid=_int(f, "gid", 0),
    )


def _secret(f: dict[str, str]) -> SecretMount:
    target = f.get("target", "")
    secret_id = f.get("id") or posixpath.basename(target)
    if not secret_id:
        raise UserError("one of source, target required")
    if not target:
        target = f"/run/secrets/{secret_id}"
    return SecretMount(
        id=secret_id,
        target=_target({"target": target}),
        required=_bool(f, "required", False),
        mode=_int(f, "mode", 0o400, 8),
        uid=_int(f, "uid", 0),
        gid=_int(f, "gid", 0),
    )


def parse_secret(value: str) -> SecretSource:
    """A CLI ``--secret id=ID[,src=PATH|source=PATH|env=VAR]`` (type=file|env allowed)."""
    fields: dict[str, str] = {}
    for raw in (f.strip() for f in value.split(",")):
        key, eq, val = raw.partition("=")
        if not eq:
            raise UserError(f"invalid secret {value!r}: expected key=value fields")
        fields[_ALIASES.get(key.lower(), key.lower())] = val
    unknown = set(fields) - {"id", "source", "env", "type"}
    if unknown or fields.get("type", "file") not in ("file", "env"):
        raise UserError(f"invalid secret {value!r}: unexpected {sorted(unknown) or fields['type']}")
    secret_id = fields.get("id") or posixpath.basename(fields.get("source", ""))
    if not secret_id:
        raise UserError(f"invalid secret {value!r}: no id")
    src, env = fields.get("source"), fields.get("env")
    if src is None and env is None:
        if fields.get("type") == "env":
            env = secret_id
        else:
            src = secret_id
    if src is not None and env is not None:
        raise UserError(f"invalid secret {value!r}: both src and env")
    return SecretSource(secret_id, src, env)
