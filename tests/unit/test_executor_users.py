"""ocibuild.executor.users: user[:group] resolution as BuildKit does it."""

from __future__ import annotations

import pytest

from ocibuild.errors import UserError
from ocibuild.executor.users import Owner, parse_group_file, parse_passwd, resolve_owner

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
foo:x:1000:1001::/home/foo:/bin/sh
broken line
foo:x:5:5::/:/bin/false
"""
GROUP = "root:x:0:\nbar:x:2000:foo\nweird:x:notanumber:\n"


def test_parse_passwd_first_entry_wins_and_skips_junk() -> None:
    assert parse_passwd(PASSWD) == {"root": (0, 0), "foo": (1000, 1001)}


def test_parse_group_file() -> None:
    assert parse_group_file(GROUP) == {"root": 0, "bar": 2000}


@pytest.mark.parametrize(
    ("spec", "owner"),
    [
        ("10", Owner(10, 10)),
        ("10:20", Owner(10, 20)),
        ("foo", Owner(1000, 1001)),
        ("foo:bar", Owner(1000, 2000)),
        ("foo:7", Owner(1000, 7)),
        ("7:bar", Owner(7, 2000)),
        ("root", Owner(0, 0)),
    ],
)
def test_resolve_owner(spec: str, owner: Owner) -> None:
    assert resolve_owner(spec, PASSWD, GROUP) == owner


def test_unknown_user_is_buildkit_error() -> None:
    expected = r"^unable to find user nobody: no matching entries in passwd file$"
    with pytest.raises(UserError, match=expected):
        resolve_owner("nobody", PASSWD, GROUP)


def test_unknown_group() -> None:
    with pytest.raises(UserError, match="unable to find group staff: no matching entries in group"):
        resolve_owner("foo:staff", PASSWD, GROUP)


def test_missing_files_only_matter_for_names() -> None:
    assert resolve_owner("1:2", None, None) == Owner(1, 2)
    with pytest.raises(UserError):
        resolve_owner("foo", None, None)


@pytest.mark.parametrize("spec", ["", ":1", "1:"])
def test_malformed_spec(spec: str) -> None:
    with pytest.raises(UserError):
        resolve_owner(spec, PASSWD, GROUP)
