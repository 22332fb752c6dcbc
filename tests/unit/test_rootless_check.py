"""ocibuild.rootless: subordinate id parsing, id maps and the one-line errors of check()."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from ocibuild.layer.tarwriter import is_opaque, keep_xattr
from ocibuild.rootless import (
    Host,
    IdRange,
    RootlessError,
    check,
    id_map_args,
    kernel_too_old,
    parse_subids,
)

ME = pwd.getpwuid(os.getuid()).pw_name


def test_parse_subids_matches_name_or_uid_in_file_order() -> None:
    text = "alice:100000:65536\nbob:200000:65536\n# comment\n1000:300000:10\nalice:400000:0\n"
    assert parse_subids(text, "alice", 1000) == (IdRange(100000, 65536), IdRange(300000, 10))
    assert parse_subids(text, "carol", 1001) == ()


def test_parse_subids_ignores_malformed_lines() -> None:
    assert parse_subids("alice:x:5\nalice:1\nalice:1:2:3\n\nalice:7:9", "alice", 1) == (
        IdRange(7, 9),
    )


def test_id_map_args_maps_root_to_caller_then_ranges_consecutively() -> None:
    ranges = [IdRange(100000, 65536), IdRange(300000, 10)]
    assert id_map_args(1000, ranges) == [
        *("0", "1000", "1"),
        *("1", "100000", "65536"),
        *("65537", "300000", "10"),
    ]


@pytest.mark.parametrize(
    ("release", "old"),
    [
        ("5.10.0-28-amd64", True),
        ("4.19.0", True),
        ("5.11.0", False),
        ("6.1.0-18", False),
        ("x", False),
    ],
)
def test_kernel_too_old(release: str, old: bool) -> None:
    assert kernel_too_old(release) is old


def _host(
    tmp_path: Path,
    *,
    subuid: str | None = None,
    helpers: bool = True,
    sysctl: dict[str, str] | None = None,
) -> Host:
    etc, proc, bin_ = tmp_path / "etc", tmp_path / "proc_sys", tmp_path / "bin"
    for d in (etc, proc / "user", proc / "kernel", bin_):
        d.mkdir(parents=True, exist_ok=True)
    line = f"{ME}:100000:65536\n" if subuid is None else subuid
    (etc / "subuid").write_text(line)
    (etc / "subgid").write_text(line)
    for key, value in (sysctl or {}).items():
        (proc / key.replace("__", "/")).write_text(value + "\n")
    if helpers:
        for name in ("newuidmap", "newgidmap"):
            (bin_ / name).write_text("#!/bin/sh\n")
            (bin_ / name).chmod(0o755)
    return Host(etc=etc, proc_sys=proc, path=str(bin_), kernel="6.1.0")


def test_check_plans_both_maps(tmp_path: Path) -> None:
    plan = check(_host(tmp_path, subuid=f"{ME}:100000:65536\n{ME}:300000:10\n"))
    assert plan.uid_args == (
        "0",
        str(os.getuid()),
        "1",
        "1",
        "100000",
        "65536",
        "65537",
        "300000",
        "10",
    )
    assert plan.gid_args[:3] == ("0", str(os.getgid()), "1")
    assert Path(plan.newuidmap).name == "newuidmap"


def test_check_names_missing_helpers(tmp_path: Path) -> None:
    with pytest.raises(
        RootlessError, match=r"newuidmap and newgidmap not found .*apt-get install uidmap"
    ):
        check(_host(tmp_path, helpers=False))


def test_check_names_missing_subuid_entry(tmp_path: Path) -> None:
    with pytest.raises(RootlessError) as info:
        check(_host(tmp_path, subuid="someoneelse:100000:65536\n"))
    assert str(info.value) == (
        f"rootless build: no subordinate id range for user {ME} in /etc/subuid "
        f"(as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {ME})"
    )


@pytest.mark.parametrize(
    ("sysctl", "value"),
    [
        ("user__max_user_namespaces", "0"),
        ("kernel__unprivileged_userns_clone", "0"),
        ("kernel__apparmor_restrict_unprivileged_userns", "1"),
    ],
)
def test_check_names_disabled_user_namespaces(tmp_path: Path, sysctl: str, value: str) -> None:
    name = sysctl.replace("__", "/")
    with pytest.raises(
        RootlessError, match=rf"disabled \(/proc/sys/{name} is {value}; as root: sysctl -w "
    ):
        check(_host(tmp_path, sysctl={sysctl: value}))


def test_check_accepts_enabled_sysctls(tmp_path: Path) -> None:
    sysctl = {"user__max_user_namespaces": "1000", "kernel__unprivileged_userns_clone": "1"}
    check(_host(tmp_path, sysctl=sysctl))


def test_check_names_old_kernel(tmp_path: Path) -> None:
    host = _host(tmp_path)
    old = Host(etc=host.etc, proc_sys=host.proc_sys, path=host.path, kernel="5.10.0-28-amd64")
    with pytest.raises(
        RootlessError, match=r"kernel 5.10.0-28-amd64 cannot mount overlayfs .*5.11"
    ):
        check(old)


def test_messages_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(RootlessError) as info:
        check(_host(tmp_path, subuid=""))
    assert "\n" not in str(info.value)


def test_overlay_user_xattrs_are_never_image_content() -> None:
    """Rootless overlays keep their metadata in user.overlay.*: a layer may not carry it."""
    assert not keep_xattr("user.overlay.opaque")
    assert not keep_xattr("user.overlay.redirect")
    assert not keep_xattr("trusted.overlay.opaque")
    assert keep_xattr("user.mime_type")


def test_either_opaque_marker_makes_a_directory_opaque() -> None:
    assert is_opaque({"trusted.overlay.opaque": b"y"})
    assert is_opaque({"user.overlay.opaque": b"y"})
    assert not is_opaque({"user.overlay.opaque": b"n", "user.other": b"y"})
