"""Pure helpers of the sandbox: path resolution inside a root, mount options,
and removing mount-point stubs from an overlay upper dir (no root needed)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from ocibuild._linux import mount as m
from ocibuild._linux.caps import CAPABILITIES
from ocibuild.sandbox.rootfs import join_in_root, mount_flags
from ocibuild.snapshot.overlay import clean_upper

if TYPE_CHECKING:
    from pathlib import Path


def test_join_in_root_keeps_symlinks_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "abs").symlink_to("/real")
    (root / "escape").symlink_to("../../../../etc")
    (root / "loop").symlink_to("loop")
    r = str(root)
    assert join_in_root(r, "/abs/x") == f"{r}/real/x"
    assert join_in_root(r, "/escape/passwd") == f"{r}/etc/passwd"
    assert join_in_root(r, "/../../etc/shadow") == f"{r}/etc/shadow"
    assert join_in_root(r, "/missing/a/b") == f"{r}/missing/a/b"
    with pytest.raises(OSError, match="too many symlinks"):
        join_in_root(r, "/loop/x")


def test_mount_flags() -> None:
    flags, data = mount_flags(["nosuid", "noexec", "rw", "mode=755", "size=65536k", "rbind"])
    assert flags == m.MS_NOSUID | m.MS_NOEXEC | m.MS_BIND | m.MS_REC
    assert data == "mode=755,size=65536k"


def test_capability_numbers_match_the_kernel_headers() -> None:
    assert CAPABILITIES["CAP_CHOWN"] == 0
    assert CAPABILITIES["CAP_SETPCAP"] == 8
    assert CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert CAPABILITIES["CAP_AUDIT_WRITE"] == 29
    assert CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


def make(root: Path, *entries: str) -> None:
    for entry in entries:
        path = root / entry.rstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text("")


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_clean_upper_removes_only_new_empty_stubs(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    make(lower, "etc/", "proc/", "bin/sh")
    os.utime(lower / "etc", ns=(10**18, 10**18))
    # The runtime made /dev, /sys, /etc/hosts, /etc/resolv.conf (stubs) and
    # /proc exists below; the step wrote /etc/hostname and /sys/keep.
    make(upper, "dev/", "etc/hosts", "etc/resolv.conf", "proc/", "sys/keep")
    (upper / "etc" / "hostname").write_text("mine\n")
    clean_upper(upper, [lower])
    assert listing(upper) == ["etc", "etc/hostname", "proc", "sys", "sys/keep"]
    assert (upper / "etc").stat().st_mtime_ns == 10**18


def test_clean_upper_removes_parents_made_for_a_mountpoint(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    make(lower, "bin/sh")
    make(upper, "etc/hosts", "run/cache/go/", "keep/")
    clean_upper(upper, [lower], ["/etc/hosts", "/run/cache/go"])
    assert listing(upper) == ["keep"]


def test_clean_upper_never_follows_symlinks_or_keeps_lower_files(tmp_path: Path) -> None:
    lower, upper, outside = tmp_path / "lower", tmp_path / "upper", tmp_path / "outside"
    make(lower, "etc/hosts")
    make(outside, "hosts")
    upper.mkdir()
    (upper / "etc").symlink_to(outside)
    clean_upper(upper, [lower], ["/etc/hosts", "/etc/x"])
    assert (outside / "hosts").exists()
    make(tmp_path / "u2", "etc/hosts")
    clean_upper(tmp_path / "u2", [lower])
    assert (tmp_path / "u2" / "etc" / "hosts").exists()  # copied up from a lower
