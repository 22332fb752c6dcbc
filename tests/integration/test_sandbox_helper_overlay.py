"""The sandbox helper mounts the rootfs overlay in its own mount namespace.

With ``RunSpec.overlay`` set, the caller mounts nothing: during the run the
rootfs is an overlay only inside the sandbox, never in the host's mount
table (so no mount can outlive the helper), and writes land in the upper
dir, for every runtime.  Lower paths too long for one page of mount data
go through the short-link fallback inside the helper.
"""

from __future__ import annotations

import shutil
import tarfile
import uuid
from pathlib import Path

import pytest

from ocibuild.sandbox import BuiltinRuntime, Overlay, RuncRuntime, RunSpec, Runtime, write_bundle
from ocibuild.snapshot.overlay import PAGE

pytestmark = pytest.mark.root

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RUNTIMES = ("builtin", "runc", "crun")


@pytest.fixture(scope="module")
def lower(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("helper-overlay") / "rootfs"
    root.mkdir()
    with tarfile.open(busybox_rootfs) as tar:
        tar.extractall(root, filter="fully_trusted")
    return root


def _runtime(name: str) -> Runtime:
    if name == "builtin":
        return BuiltinRuntime()
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    return RuncRuntime(name)


def _host_mounts_at_or_below(path: Path) -> list[str]:
    found = []
    for info in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            lines = info.read_text().splitlines()
        except OSError:
            continue
        found += [ln for ln in lines if ln.split()[4].startswith(str(path))]
    return found


def _run(runtime: Runtime, tmp_path: Path, lowers: tuple[Path, ...], script: str) -> str:
    upper, work, merged = (tmp_path / name for name in ("upper", "work", "merged"))
    for path in (upper, work, merged):
        path.mkdir()
    overlay = Overlay(tuple(str(p) for p in lowers), str(upper), str(work))
    spec = RunSpec(argv=("/bin/sh", "-c", script), rootfs=str(merged), env=(PATH_ENV,),
                   overlay=overlay)  # fmt: skip
    write_bundle(spec, tmp_path / "bundle")
    chunks: list[bytes] = []
    code = runtime.run(tmp_path / "bundle", stdout_sink=chunks.append, id=uuid.uuid4().hex[:12])
    out = b"".join(chunks).decode()
    assert code == 0, out
    assert _host_mounts_at_or_below(merged) == []
    assert not any(merged.iterdir())  # the host sees the bare mount point only
    return out


@pytest.mark.parametrize("name", RUNTIMES)
def test_helper_mounts_the_overlay_privately(name: str, lower: Path, tmp_path: Path) -> None:
    out = _run(_runtime(name), tmp_path, (lower,), "echo hi > /new; cat /etc/passwd")
    assert "root:" in out
    assert (tmp_path / "upper" / "new").read_text() == "hi\n"
    assert not (lower / "new").exists()


@pytest.mark.parametrize("name", RUNTIMES)
def test_page_limit_fallback_in_the_helper(name: str, lower: Path, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 200) / ("e" * 200)
    extra = []
    for index in range(12):
        path = deep / f"lower-{index:02d}"
        (path / "marks").mkdir(parents=True)
        (path / "marks" / f"m{index}").write_text(str(index))
        extra.append(path)
    lowers = (*extra, lower)
    assert sum(len(str(p)) + 1 for p in lowers) > PAGE
    out = _run(_runtime(name), tmp_path, lowers, "ls /marks | sort; touch /marks/new")
    assert out.split() == sorted(f"m{i}" for i in range(12))
    assert (tmp_path / "upper" / "marks" / "new").exists()
