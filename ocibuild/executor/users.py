"""Resolve ``user[:group]`` (COPY --chown, USER for WORKDIR) to numeric ids.

Pure functions over the text of an image's ``/etc/passwd`` and
``/etc/group``; reading those files from a root is the caller's job.  The
rules are BuildKit's: a numeric user without a group uses the uid as gid, a
named user without a group uses its primary gid from passwd, and a name that
is not found is an error (BuildKit's wording).
"""

from __future__ import annotations

from ocibuild._record import record
from ocibuild.errors import UserError

__all__ = ["Owner", "parse_group_file", "parse_passwd", "resolve_owner"]


@record
class Owner:
    """Numeric owner of a file: ``uid`` and ``gid``."""

    uid: int
    gid: int


def _fields(text: str, minimum: int) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= minimum:
            rows.append(parts)
    return rows


def parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    """Map each user name in passwd ``text`` to ``(uid, primary gid)``.

    The first entry for a name wins; malformed lines are skipped.
    """
    users: dict[str, tuple[int, int]] = {}
    for parts in _fields(text, 4):
        if parts[2].isdigit() and parts[3].isdigit():
            users.setdefault(parts[0], (int(parts[2]), int(parts[3])))
    return users


def parse_group_file(text: str) -> dict[str, int]:
    """Map each group name in group ``text`` to its gid (first entry wins)."""
    groups: dict[str, int] = {}
    for parts in _fields(text, 3):
        if parts[2].isdigit():
            groups.setdefault(parts[0], int(parts[2]))
    return groups


def _lookup_user(name: str, passwd: str | None) -> tuple[int, int]:
    found = parse_passwd(passwd or "").get(name)
    if found is None:
        raise UserError(f"unable to find user {name}: no matching entries in passwd file")
    return found


def _lookup_group(name: str, group: str | None) -> int:
    found = parse_group_file(group or "").get(name)
    if found is None:
        raise UserError(f"unable to find group {name}: no matching entries in group file")
    return found


def _id(word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        if value < 2**32:
            return value
    return None


def resolve_owner(spec: str, passwd: str | None, group: str | None) -> Owner:
    """Resolve ``user[:group]`` with the image's passwd/group text (None: absent).

    >>> resolve_owner("10", None, None)
    Owner(uid=10, gid=10)
    """
    user_part, sep, group_part = spec.partition(":")
    if not user_part or (sep and not group_part):
        raise UserError(f"invalid user/group specification {spec!r}")
    uid = _id(user_part)
    if uid is not None:
        gid = uid
    else:
        uid, gid = _lookup_user(user_part, passwd)
    if sep:
        numeric = _id(group_part)
        gid = numeric if numeric is not None else _lookup_group(group_part, group)
    return Owner(uid, gid)
