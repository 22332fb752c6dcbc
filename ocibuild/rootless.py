"""Rootless ocibuild: do the root work inside a user namespace, as ``buildah unshare``.

A build needs root powers: chown to the image's owners, overlay mounts,
namespaces for RUN.  Started by a non-root user, the CLI calls
:func:`run_as_root` for such commands.  It forks; the child unshares a user
and a mount namespace and waits; the parent maps the child's ids with the
setuid helpers ``newuidmap``/``newgidmap`` (Debian's ``uidmap``):

    namespace 0     -> the caller's uid (gid)
    namespace 1..N  -> the caller's subordinate ranges from /etc/subuid
                       (/etc/subgid), in file order

then lets it go on.  The child becomes root there and runs the command;
everything it does as "root" acts on mapped ids (files it makes belong to
the caller on the host, files chowned to 1000 to ``subuid start + 999``),
overlays are mounted in its own mount namespace (``userxattr``, Linux
5.11+), and the RUN sandbox's namespaces nest inside.  The parent only
waits, forwards SIGTERM/SIGHUP (and SIGINT when it did not come from the
terminal, which sends it to both), and returns the child's exit status.
The child dies with the parent (PR_SET_PDEATHSIG SIGKILL).

What is missing is found before anything is forked (:func:`check`) and
reported as one :class:`RootlessError` line naming the fix.  Pure parts
(:func:`parse_subids`, :func:`id_map_args`, :func:`kernel_too_old`) are
unit-tested; the fork is tested by tests/integration/test_rootless.py.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "Host",
    "IdRange",
    "RootlessError",
    "check",
    "id_map_args",
    "kernel_too_old",
    "needs_user_namespace",
    "parse_subids",
    "run_as_root",
]

_SYSCTLS = (
    # (file under /proc/sys, the value that disables unprivileged user namespaces, the fix)
    ("user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
    ("kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
    (
        "kernel/apparmor_restrict_unprivileged_userns",
        "1",
        "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
    ),
)
_OVERLAY_IN_USERNS = (5, 11)


class RootlessError(UserError):
    """A rootless build cannot start: names what is missing and how to add it."""


@record
class IdRange:
    """A subordinate id range: ``count`` ids from ``start`` (a line of /etc/subuid)."""

    start: int
    count: int


def needs_user_namespace() -> bool:
    """Whether root work needs :func:`run_as_root`: not root, and not already in one."""
    return os.geteuid() != 0


def parse_subids(text: str, name: str, uid: int) -> tuple[IdRange, ...]:
    """The ranges of ``text`` (/etc/subuid format) for user ``name`` or id ``uid``, in order."""
    found: list[IdRange] = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (name, str(uid)):
            continue
        if fields[1].isdigit() and fields[2].isdigit() and int(fields[2]) > 0:
            found.append(IdRange(int(fields[1]), int(fields[2])))
    return tuple(found)


def id_map_args(own: int, ranges: Sequence[IdRange]) -> list[str]:
    """newuidmap's ``NS HOST COUNT`` triples: 0 -> ``own``, then the ranges from 1 on."""
    args = ["0", str(own), "1"]
    inside = 1
    for r in ranges:
        args += [str(inside), str(r.start), str(r.count)]
        inside += r.count
    return args


def kernel_too_old(release: str) -> bool:
    """Whether kernel ``release`` (``uname -r``) predates overlayfs in user namespaces."""
    match = re.match(r"(\d+)\.(\d+)", release)
    if match is None:
        return False
    return (int(match[1]), int(match[2])) < _OVERLAY_IN_USERNS


@record
class _Plan:
    """What :func:`check` found: the helpers and both id maps."""

    newuidmap: str
    newgidmap: str
    uid_args: tuple[str, ...]
    gid_args: tuple[str, ...]


@record
class Host:
    """Where :func:`check` looks (tests point it at fake files)."""

    etc: Path = Path("/etc")
    proc_sys: Path = Path("/proc/sys")
    path: str | None = None  # PATH for newuidmap/newgidmap; None: the environment's
    kernel: str = ""  # ``uname -r``; empty: this kernel's


def check(host: Host = Host()) -> _Plan:  # noqa: B008 - a frozen record
    """Everything a user namespace needs, or :class:`RootlessError` naming what is missing."""
    for name, off, fix in _SYSCTLS:
        if _read(host.proc_sys / name).strip() == off:
            raise RootlessError(
                f"rootless build: user namespaces are disabled "
                f"(/proc/sys/{name} is {off}; as root: {fix})"
            )
    release = host.kernel or os.uname().release
    if kernel_too_old(release):
        raise RootlessError(
            f"rootless build: kernel {release} cannot mount overlayfs in a user namespace "
            "(needs Linux 5.11 or later); build as root instead"
        )
    helpers = [shutil.which(name, path=host.path) for name in ("newuidmap", "newgidmap")]
    if helpers[0] is None or helpers[1] is None:
        raise RootlessError(
            "rootless build: newuidmap and newgidmap not found on PATH "
            "(as root: apt-get install uidmap)"
        )
    name, uid, gid = _who()
    maps: list[tuple[str, ...]] = []
    for file, own in (("subuid", uid), ("subgid", gid)):
        ranges = parse_subids(_read(host.etc / file), name, uid)
        if not ranges:
            raise RootlessError(
                f"rootless build: no subordinate id range for user {name} in /etc/{file} "
                f"(as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name})"
            )
        maps.append(tuple(id_map_args(own, ranges)))
    return _Plan(helpers[0], helpers[1], maps[0], maps[1])


def _who() -> tuple[str, int, int]:
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return name, uid, os.getgid()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def run_as_root(body: Callable[[], int], host: Host = Host()) -> int:  # noqa: B008
    """Run ``body`` as root of a new user namespace; its exit status (128+N on signal N).

    Raises :class:`RootlessError` when the namespace cannot be made.  Call
    from a single-threaded process (``unshare(CLONE_NEWUSER)`` requires it).
    """
    plan = check(host)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child (integration-tested)
        os.close(ready_r)
        os.close(go_w)
        _child(body, parent, ready_w, go_r)
    os.close(ready_w)
    os.close(go_r)
    try:
        _map(plan, pid, ready_r)
    except BaseException:
        os.close(go_w)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready_r)
    os.write(go_w, b"go")
    os.close(go_w)
    return _wait(pid)


def _map(plan: _Plan, pid: int, ready_r: int) -> None:
    """Wait for the child's unshare, then write its uid and gid maps."""
    said = os.read(ready_r, 4096)
    if said != b"ready":
        detail = said.decode(errors="replace") or "the child exited"
        raise RootlessError(f"rootless build: cannot create a user namespace: {detail}")
    for helper, args in ((plan.newuidmap, plan.uid_args), (plan.newgidmap, plan.gid_args)):
        proc = subprocess.run(
            [helper, str(pid), *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
            raise RootlessError(f"rootless build: {Path(helper).name} failed: {lines[-1]}")


def _child(
    body: Callable[[], int], parent: int, ready_w: int, go_r: int
) -> None:  # pragma: no cover
    """The forked child: unshare, wait to be mapped, become root, run ``body``, exit."""
    from ocibuild._linux import caps, mount, ns
    from ocibuild._linux.userns import CLONE_NEWUSER, in_user_namespace

    status = 1
    try:
        try:
            ns.unshare(CLONE_NEWUSER | ns.CLONE_NEWNS)
        except OSError as err:
            os.write(ready_w, (err.strerror or str(err)).encode())
            os._exit(1)
        os.write(ready_w, b"ready")
        os.close(ready_w)
        if os.read(go_r, 16) != b"go":  # the parent failed to map us; it reports why
            os._exit(1)
        os.close(go_r)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        os.setgroups([])
        caps.set_pdeathsig(signal.SIGKILL)  # after setresuid, which clears it
        if os.getppid() != parent:
            os._exit(1)
        mount.mount(None, "/", None, mount.MS_REC | mount.MS_SLAVE)
        in_user_namespace.cache_clear()
        status = body()
    except BaseException as exc:
        os.write(2, f"ocibuild: rootless child failed: {exc}\n".encode())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _wait(pid: int) -> int:
    with _forwarding(pid):
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _from_terminal() -> bool:
    """Whether this process's group is the foreground of its terminal (so ^C reached all)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _forwarding(pid: int) -> Iterator[None]:
    """Forward termination signals to ``pid`` while waiting for it."""

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and _from_terminal():
            return  # the terminal sent it to the child too
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {
        s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
