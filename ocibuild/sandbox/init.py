"""The sandbox helper process: ``python -m ocibuild.sandbox.init``.

Started by ``ocibuild.sandbox.runtime`` with the merged stdout/stderr pipe
as fds 1 and 2 and a status fd; it writes one JSON line there:
``{"exit": N}`` (the container's exit code, 128+signal when killed) or
``{"error": "..."}`` when the sandbox could not be set up.

When the bundle has an ``overlay.json`` (``RunSpec.overlay``), the helper
mounts that overlay at the config's root path itself, in a private mount
namespace (``/`` made a recursive slave first, so nothing propagates back to
the host).  The mount therefore exists only while the helper (and the
container it starts) live: killing the caller, even by SIGKILL, leaves no
overlay in the host's mount table.  Mount data longer than a page goes
through ``snapshot.overlay``'s short-link fallback, here as in the caller.

Two modes:

``builtin BUNDLE``
    ocibuild's own runtime.  Unshares the namespaces the config names (mount,
    PID, UTS, IPC, network) and forks: the child is PID 1 of the new PID
    namespace, builds the mount tree (``sandbox.rootfs``), becomes the
    process (``sandbox.process``) and execs it.  The overlay, if any, is
    mounted by the helper between the unshare and the fork.  Each hop has
    PR_SET_PDEATHSIG SIGKILL, so killing the caller kills this helper, which
    kills PID 1, which makes the kernel kill everything in the namespace;
    the mounts exist only in the private mount namespace and go with it.

``supervise RUNTIME BUNDLE ID``
    Runs ``RUNTIME --root STATE run --bundle BUNDLE ID`` (runc, crun) with a
    fresh state dir.  On SIGTERM/SIGINT, or when the caller dies
    (PR_SET_PDEATHSIG SIGTERM), it kills and force-deletes the container and
    removes the state dir.  With an overlay, the helper first moves into a
    private mount namespace and mounts it there; the runtime inherits that
    namespace and so sees the rootfs.  With ``--hide-hybrid-cgroup2`` (used for crun,
    which refuses a hybrid cgroup v1/v2 host) the helper first moves into a
    private mount namespace and detaches the cgroup2 mount at
    ``/sys/fs/cgroup/unified`` there, so the runtime sees plain cgroup v1;
    the host's mounts are untouched.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ocibuild._linux import caps, mount, ns
from ocibuild._record import record
from ocibuild.sandbox.process import exec_process, prepare_process
from ocibuild.sandbox.rootfs import setup_rootfs
from ocibuild.sandbox.spec import read_overlay
from ocibuild.snapshot.overlay import mount_overlay

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["main"]

_NAMESPACES = {
    "mount": ns.CLONE_NEWNS,
    "pid": ns.CLONE_NEWPID,
    "uts": ns.CLONE_NEWUTS,
    "ipc": ns.CLONE_NEWIPC,
    "network": ns.CLONE_NEWNET,
    "cgroup": ns.CLONE_NEWCGROUP,
}


_CGROUP_ROOT = "/sys/fs/cgroup"
_HYBRID_CGROUP2 = "/sys/fs/cgroup/unified"


class SetupError(Exception):
    """The container could not be set up; the message is for the user."""


class _TerminatedError(Exception):
    """SIGTERM or SIGINT arrived while supervising."""


def _container(config: dict[str, Any], bundle: Path, err_w: int, life_r: int) -> NoReturn:
    """PID 1 of the sandbox: set up, then exec; report setup errors on err_w."""
    stage = "starting"
    try:
        caps.set_pdeathsig(signal.SIGKILL)
        if select.select([life_r], [], [], 0)[0]:  # the helper died before prctl
            os._exit(128 + signal.SIGKILL)
        os.close(life_r)
        stage = "mounting the root file system"
        setup_rootfs(config, bundle)
        stage = "preparing the process"
        kinds = {entry["type"] for entry in config["linux"].get("namespaces", [])}
        prepare_process(config, new_network="network" in kinds)
        stage = f"exec {config['process']['args'][0]!r}"
        exec_process(config)
    except BaseException as exc:  # report every failure, then leave without cleanup
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        os.write(err_w, f"{stage}: {reason or type(exc).__name__}".encode())
    os._exit(127)


def _exit_code(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _root_path(bundle: Path, config: dict[str, Any]) -> Path:
    root: str = config["root"]["path"]
    return (bundle / root).resolve()


def mount_bundle_overlay(bundle: Path, config: dict[str, Any]) -> bool:
    """Mount the bundle's overlay at its root path; False when it has none.

    Call only in a private mount namespace whose ``/`` is a slave or private.
    """
    overlay = read_overlay(bundle)
    if overlay is None:
        return False
    try:
        lowers = [Path(p) for p in overlay.lowers]
        mount_overlay(lowers, Path(overlay.upper), Path(overlay.work), _root_path(bundle, config))
    except (OSError, ValueError) as exc:
        raise SetupError(f"mounting the rootfs overlay: {exc}") from None
    return True


def _private_mount_namespace() -> None:
    """Move into a new mount namespace that no mount leaves (a slave of the host's)."""
    ns.unshare(ns.CLONE_NEWNS)
    mount.mount(None, "/", None, mount.MS_REC | mount.MS_SLAVE)


def run_builtin(bundle: Path) -> int:
    """Run the bundle with ocibuild's own runtime; the container's exit code."""
    config = json.loads((bundle / "config.json").read_text())
    kinds = [entry["type"] for entry in config["linux"].get("namespaces", [])]
    if any("path" in entry for entry in config["linux"].get("namespaces", [])):
        raise SetupError("joining existing namespaces is not supported by the builtin runtime")
    if "mount" not in kinds:
        raise SetupError("the builtin runtime needs a mount namespace")
    ns.unshare(ns.CLONE_NEWNS)
    mount.mount(None, "/", None, mount.MS_REC | mount.MS_PRIVATE)
    # Before the new PID namespace: the overlay's fallback forks a child,
    # which would become (and, exiting, end) that namespace's PID 1.
    mount_bundle_overlay(bundle, config)
    flags = 0
    for kind in kinds:
        flags |= _NAMESPACES[kind] if kind != "mount" else 0
    ns.unshare(flags)
    err_r, err_w = os.pipe()
    life_r, life_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(err_r)
        os.close(life_w)
        _container(config, bundle, err_w, life_r)
    os.close(err_w)
    os.close(life_r)
    _, wait_status = os.waitpid(pid, 0)
    with os.fdopen(err_r, "rb") as errors:
        message = errors.read().decode(errors="replace")
    if message:
        raise SetupError(message)
    return _exit_code(wait_status)


def _mount_types() -> dict[str, str]:
    """Mount point -> file system type, from this process's mountinfo."""
    types: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        types[fields[4]] = fields[fields.index("-", 6) + 1]
    return types


def hide_hybrid_cgroup2() -> bool:
    """Detach a hybrid layout's cgroup2 mount in a private mount namespace.

    True when this process now sees plain cgroup v1 (the host layout was
    hybrid: v1 controllers under a tmpfs at /sys/fs/cgroup plus cgroup2 at
    /sys/fs/cgroup/unified); False when there was nothing to hide.  The new
    namespace is a slave of the host's, so the unmount does not propagate
    back, and it goes away with this process and its children.
    """
    types = _mount_types()
    if types.get(_HYBRID_CGROUP2) != "cgroup2" or types.get(_CGROUP_ROOT) == "cgroup2":
        return False
    _private_mount_namespace()
    mount.umount2(_HYBRID_CGROUP2, mount.MNT_DETACH)
    return True


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _TerminatedError(signum)


def run_supervised(runtime: str, bundle: Path, container_id: str) -> int:
    """Run the bundle with an OCI runtime CLI; always deletes the container."""
    import shutil  # here, not at the top: the builtin runtime's start-up is every RUN's
    import subprocess
    import tempfile

    state = tempfile.mkdtemp(prefix="ocibuild-runtime-")
    base = [runtime, "--root", state]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
    proc = subprocess.Popen(
        [*base, "run", "--bundle", str(bundle), container_id], stdin=subprocess.DEVNULL
    )
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if proc.returncode is None:
            subprocess.run([*base, "kill", container_id, "KILL"], **quiet)  # type: ignore[call-overload]
        subprocess.run([*base, "delete", "-f", container_id], **quiet)  # type: ignore[call-overload]
        proc.wait()
        shutil.rmtree(state, ignore_errors=True)


def _supervised_overlay(bundle: Path) -> None:
    """Mount the bundle's overlay, if any, in a private namespace the runtime inherits."""
    if read_overlay(bundle) is None:
        return
    _private_mount_namespace()
    mount_bundle_overlay(bundle, json.loads((bundle / "config.json").read_text()))


@record
class _Args:
    """The helper's command line (written only by ``sandbox.runtime``)."""

    status_fd: int
    parent: int
    mode: str
    bundle: Path
    runtime: str = ""
    id: str = ""
    hide_hybrid_cgroup2: bool = False


_USAGE = (
    "usage: python -m ocibuild.sandbox.init --status-fd FD --parent PID "
    "(builtin BUNDLE | supervise RUNTIME BUNDLE ID [--hide-hybrid-cgroup2])"
)


def _parse(argv: list[str]) -> _Args:
    """Read the command line by hand: argparse (with gettext, locale and shutil)
    cost 5 ms of every RUN's start-up, for a line no user types."""
    try:
        rest = list(argv)
        hide = "--hide-hybrid-cgroup2" in rest
        if hide:
            rest.remove("--hide-hybrid-cgroup2")
        flag_fd, fd, flag_parent, parent, mode, *words = rest
        if (flag_fd, flag_parent) != ("--status-fd", "--parent"):
            raise ValueError
        if mode == "builtin" and len(words) == 1 and not hide:
            return _Args(int(fd), int(parent), mode, Path(words[0]))
        if mode == "supervise" and len(words) == 3:
            runtime, bundle, container = words
            return _Args(int(fd), int(parent), mode, Path(bundle), runtime, container, hide)
        raise ValueError
    except ValueError:
        raise SystemExit(_USAGE) from None  # exit status 1, the usage on stderr


def _outcome(args: _Args) -> dict[str, Any]:
    try:
        if args.mode == "builtin":
            return {"exit": run_builtin(args.bundle)}
        if args.hide_hybrid_cgroup2:
            hide_hybrid_cgroup2()
        _supervised_overlay(args.bundle)
        return {"exit": run_supervised(args.runtime, args.bundle, args.id)}
    except SetupError as exc:
        return {"error": str(exc)}
    except _TerminatedError as exc:
        return {"error": f"interrupted by signal {exc.args[0]}"}
    except OSError as exc:
        return {"error": f"sandbox setup failed: {exc}"}


def main(argv: list[str]) -> int:
    """Entry point; the outcome goes to the status fd, not the exit code."""
    args = _parse(argv)
    os.set_inheritable(args.status_fd, False)
    deathsig = signal.SIGKILL if args.mode == "builtin" else signal.SIGTERM
    caps.set_pdeathsig(deathsig)
    if os.getppid() != args.parent:  # the caller died before prctl took effect
        return 1
    if args.mode == "supervise":
        signal.signal(signal.SIGTERM, _raise_terminated)
        signal.signal(signal.SIGINT, _raise_terminated)
    outcome = _outcome(args)
    with os.fdopen(args.status_fd, "w") as status:
        status.write(json.dumps(outcome) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
