"""overlay_mount (also past the one-page mount data limit) and clean_upper
after a real sandbox run: mount stubs never reach the upper dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocibuild.sandbox import BuiltinRuntime, RunSpec, write_bundle
from ocibuild.snapshot.overlay import PAGE, clean_upper, overlay_mount

pytestmark = pytest.mark.root


def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    made = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in made:
        d.mkdir()
    return made


def is_mounted(path: Path) -> bool:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return any(line.split()[4] == str(path) for line in lines)


def test_deep_lowers_past_the_page_limit(tmp_path: Path) -> None:
    lowers = []
    for i in range(120):  # ~120 * 90 bytes of absolute paths > 4096
        lower = tmp_path / "snapshots" / f"{i:064x}" / "diff"
        lower.mkdir(parents=True)
        (lower / f"f{i}").write_text(str(i))
        (lower / "top").write_text(str(i))
        lowers.append(lower)
    lowers.reverse()  # topmost first: the last one made
    assert len(":".join(map(str, lowers))) > PAGE
    upper, work, target = dirs(tmp_path)
    with overlay_mount(lowers, upper, work, target):
        assert is_mounted(target)
        assert (target / "f0").read_text() == "0"
        assert (target / "top").read_text() == "119"
        (target / "new").write_text("x")
    assert not is_mounted(target)
    assert (upper / "new").read_text() == "x"
    assert not list(tmp_path.glob("ovl-*"))  # the link dir is gone


def test_no_lowers_and_unmount_on_error(tmp_path: Path) -> None:
    upper, work, target = dirs(tmp_path)
    with pytest.raises(RuntimeError), overlay_mount([], upper, work, target):
        (target / "a").write_text("a")
        raise RuntimeError
    assert not is_mounted(target)
    assert (upper / "a").exists()


def test_run_then_clean_upper_leaves_only_the_steps_changes(
    tmp_path: Path, busybox_rootfs: Path
) -> None:
    import tarfile

    lower = tmp_path / "lower"
    lower.mkdir()
    with tarfile.open(busybox_rootfs) as tar:
        tar.extractall(lower, filter="fully_trusted")
    for name in ("proc", "sys", "dev"):  # an image without the usual mount points
        (lower / name).rmdir()
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    upper, work, target = dirs(tmp_path)
    with overlay_mount([lower], upper, work, target):
        spec = RunSpec(argv=("/bin/sh", "-c", "echo hi > /etc/motd"), rootfs=str(target),
                       env=("PATH=/bin",), hosts=str(hosts))  # fmt: skip
        write_bundle(spec, tmp_path / "bundle")
        code = BuiltinRuntime().run(tmp_path / "bundle", stdout_sink=print, id="t")
        assert code == 0
    assert {p.name for p in upper.iterdir()} == {"proc", "sys", "dev", "etc"}
    clean_upper(upper, [lower])
    assert sorted(str(p.relative_to(upper)) for p in upper.rglob("*")) == ["etc", "etc/motd"]
    assert (upper / "etc").stat().st_mtime_ns == (lower / "etc").stat().st_mtime_ns
