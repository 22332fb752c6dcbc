"""A RUN leaves nothing behind: not when it succeeds, fails or is interrupted.

The CLI runs as a subprocess building ``RUN sleep 30 && echo TOKEN``; once the
sandbox's shell (found by the unique token in its command line, with the CLI
among its ancestors) is running, the CLI gets a signal.  Afterwards no
process of the sandbox may be alive, no mount under the store may remain in
the host's mount table, the store's temp dirs (``ocibuild/tmp`` and the
snapshots root's ``tmp-*`` upper dirs, see executor/layers.py) must be gone,
nothing may be tagged, and the next build on the same store must work.
After SIGKILL the CLI cannot remove its temp dir: the next build sweeps it
(snapshot/scratch.py), but never the temp dir of a build still running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OCIBUILD_CLI

from ocibuild.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.root

BASE = "busybox:latest"
WAIT = 10.0


def _cli(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", OCIBUILD_CLI, *args],
        env={**os.environ, "OCIBUILD_ROOT": str(root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _cli_ok(root: Path, *args: str) -> str:
    proc = _cli(root, *args)
    out, _ = proc.communicate(timeout=300)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


@pytest.fixture
def store_root(tmp_path: Path, busybox_rootfs: Path) -> Iterator[Path]:
    root = tmp_path / "store"
    _cli_ok(root, "import", str(busybox_rootfs), BASE)
    yield root
    for line in reversed(_mounts_under(root)):  # never leak a mount onto the host
        subprocess.run(["umount", "-l", line.split()[4]], check=False)


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / f"ctx-{secrets.token_hex(4)}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _descends_from(pid: int, ancestor: int) -> bool:
    current: int | None = pid
    while current is not None and current > 1:
        if current == ancestor:
            return True
        current = _ppid(current)
    return False


def _pids_with(token: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if token in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _sandbox_pids(cli: subprocess.Popen[bytes], token: bytes) -> list[int]:
    """Wait for the sandbox's shell to run under ``cli``; return the CLI's descendants."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and cli.poll() is None:
        if any(_descends_from(pid, cli.pid) for pid in _pids_with(token)):
            pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
            return [pid for pid in pids if pid != cli.pid and _descends_from(pid, cli.pid)]
        time.sleep(0.1)
    out = cli.communicate()[0] if cli.poll() is not None else b""
    raise AssertionError(f"the sandbox never started: {out.decode(errors='replace')}")


def _mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(path) in line]


def _leftovers(root: Path) -> list[str]:
    """Mounts and temp dirs the store should not have after a build."""
    found = _mounts_under(root)
    found += [str(p) for p in (root / "ocibuild" / "tmp").iterdir()]
    found += [str(p) for p in (root / "ocibuild" / "snapshots").glob("tmp-*")]
    return found


def _tags(root: Path) -> list[str]:
    return sorted(name for name, _ in Store(root).refs())


def _eventually_clean(root: Path, pids: list[int], *, dirs_too: bool = True) -> None:
    """No process of ``pids``, no mount under ``root`` (and no temp dir: ``dirs_too``)."""
    deadline = time.monotonic() + WAIT
    while True:
        alive = [pid for pid in pids if _alive(pid)]
        left = _leftovers(root) if dirs_too else _mounts_under(root)
        if not alive and not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: processes {alive}, paths/mounts {left}")
        time.sleep(0.2)


def _next_build_works(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, f"FROM {BASE}\nRUN echo again > /again\n")
    _cli_ok(root, "-t", "again:latest", str(ctx))
    assert _tags(root) == ["again:latest", BASE]
    assert _leftovers(root) == []


def _start_sleeper(
    root: Path, tmp_path: Path, tag: str, seconds: int
) -> tuple[subprocess.Popen[bytes], list[int], str]:
    """A CLI building ``RUN sleep``, once its sandbox runs: (cli, its pids, token)."""
    token = f"tok{secrets.token_hex(8)}"
    ctx = _context(tmp_path, f"FROM {BASE}\nRUN sleep {seconds} && echo {token}\n")
    cli = _cli(root, "-t", tag, str(ctx))
    try:
        pids = _sandbox_pids(cli, token.encode())
    except BaseException:
        cli.kill()
        cli.wait()
        raise
    assert pids, "no sandbox process found"
    return cli, pids, token


def _kill(cli: subprocess.Popen[bytes], sig: int) -> None:
    try:
        cli.send_signal(sig)
        cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode != 0


def _interrupt(root: Path, tmp_path: Path, sig: int, *, dirs_left: bool = False) -> None:
    """Stop a RUN with ``sig``; ``dirs_left``: its temp dir stays until the next build."""
    assert _leftovers(root) == []
    cli, pids, token = _start_sleeper(root, tmp_path, "leak:test", 30)
    _kill(cli, sig)
    _eventually_clean(root, pids, dirs_too=not dirs_left)
    assert _pids_with(token.encode()) == []
    assert _tags(root) == [BASE]
    _next_build_works(root, tmp_path)


def test_sigint_leaves_nothing(store_root: Path, tmp_path: Path) -> None:
    _interrupt(store_root, tmp_path, signal.SIGINT)


def test_sigterm_leaves_nothing(store_root: Path, tmp_path: Path) -> None:
    _interrupt(store_root, tmp_path, signal.SIGTERM)


def test_sigkill_leaves_no_process_mount_or_tag(store_root: Path, tmp_path: Path) -> None:
    """The sandbox and its overlay mount die with the CLI; the next build sweeps its temp dir."""
    _interrupt(store_root, tmp_path, signal.SIGKILL, dirs_left=True)


def test_sweep_spares_a_concurrent_build(store_root: Path, tmp_path: Path) -> None:
    """A build sweeps a SIGKILLed build's temp dir, not the one of a build still running."""
    killed, pids, _ = _start_sleeper(store_root, tmp_path, "killed:test", 30)
    _kill(killed, signal.SIGKILL)
    _eventually_clean(store_root, pids, dirs_too=False)
    abandoned = sorted((store_root / "ocibuild" / "snapshots").glob("tmp-*"))
    assert abandoned
    running, _, token = _start_sleeper(store_root, tmp_path, "running:test", 10)
    live = set((store_root / "ocibuild" / "snapshots").glob("tmp-*")) - set(abandoned)
    assert live
    _cli_ok(store_root, "-t", "other:test", str(_context(tmp_path, f"FROM {BASE}\nRUN true\n")))
    assert not any(path.exists() for path in abandoned)
    assert running.poll() is None
    assert all(path.exists() for path in live)
    out, _ = running.communicate(timeout=120)
    assert running.returncode == 0, out.decode(errors="replace")
    assert token.encode() in out
    assert _leftovers(store_root) == []
    assert _tags(store_root) == [BASE, "other:test", "running:test"]


def test_failing_run_leaves_nothing(store_root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, f"FROM {BASE}\nRUN touch /x && exit 3\n")
    proc = _cli(store_root, "-t", "fails:test", str(ctx))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    assert _leftovers(store_root) == []
    assert _tags(store_root) == [BASE]
    _next_build_works(store_root, tmp_path)


def test_successful_run_leaves_nothing(store_root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, f"FROM {BASE}\nRUN mkdir /d && echo hi > /d/f\n")
    _cli_ok(store_root, "-t", "ok:test", str(ctx))
    assert _leftovers(store_root) == []
    assert _tags(store_root) == [BASE, "ok:test"]
