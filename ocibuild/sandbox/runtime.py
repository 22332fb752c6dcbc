"""Runtimes: carry out an OCI bundle and stream its output.

``Runtime`` is the seam the executor codes against:
``run(bundle_dir, *, stdout_sink, id) -> int`` runs ``bundle_dir/config.json``
to completion, feeding the merged stdout/stderr to ``stdout_sink`` in chunks
as it comes, and returns the exit code (128+N when killed by signal N).

``BuiltinRuntime()`` needs nothing installed; ``RuncRuntime("runc")`` and
``RuncRuntime("crun")`` use those CLIs (crun on a hybrid cgroup v1/v2 host
sees only the v1 half; see ``sandbox.init``; refused in a rootless build,
inside a user namespace, where only the builtin runtime works).  Both start the helper
``python -S -P -c "...ocibuild.sandbox.init..."`` (see that module) in its own session,
so a terminal's Ctrl-C reaches only the caller.  When the caller is
interrupted (any exception while streaming) the helper is sent SIGTERM and
waited for; when the caller dies outright the helper gets its parent-death
signal.  Either way no sandbox process or mount outlives the call.

The helper is started from the calling thread, and the parent-death signal
fires when *that thread* exits: call ``run`` from a thread that outlives it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Literal, Protocol

from ocibuild._linux.userns import in_user_namespace
from ocibuild._record import record
from ocibuild.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BuiltinRuntime", "RuncRuntime", "Runtime", "SandboxError", "default_runtime"]

_CHUNK = 65536
_STOP_TIMEOUT = 10.0


class SandboxError(UserError):
    """The sandbox could not start the process (bad cwd, missing executable...)."""


class Runtime(Protocol):
    """Runs an OCI bundle; returns the process's exit code."""

    def run(self, bundle_dir: Path, *, stdout_sink: Callable[[bytes], None], id: str) -> int:
        """Run ``bundle_dir/config.json``; output goes to ``stdout_sink``."""
        ...


@record
class BuiltinRuntime:
    """ocibuild's own small runtime (namespaces + pivot_root; needs root)."""

    def run(self, bundle_dir: Path, *, stdout_sink: Callable[[bytes], None], id: str) -> int:
        return _run_helper(["builtin", str(bundle_dir.resolve())], stdout_sink)


@record
class RuncRuntime:
    """An OCI runtime CLI (``runc`` or ``crun``), with a fresh state dir per run."""

    binary: Literal["runc", "crun"] | str = "runc"

    def run(self, bundle_dir: Path, *, stdout_sink: Callable[[bytes], None], id: str) -> int:
        if in_user_namespace():
            raise SandboxError(
                f"--runtime {self.binary} is not supported in a rootless build "
                "(use the builtin runtime, the default)"
            )
        path = shutil.which(self.binary)
        if path is None:
            raise SandboxError(f"OCI runtime {self.binary!r} not found on PATH")
        args = ["supervise", path, str(bundle_dir.resolve()), id]
        if PurePath(path).name == "crun":
            args.append("--hide-hybrid-cgroup2")
        return _run_helper(args, stdout_sink)


def default_runtime() -> Runtime:
    """The builtin runtime: it needs nothing installed."""
    return BuiltinRuntime()


def _pump(fd: int, sink: Callable[[bytes], None]) -> None:
    while chunk := os.read(fd, _CHUNK):
        sink(chunk)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _outcome(status: bytes, returncode: int) -> int:
    try:
        result = json.loads(status)
    except ValueError:
        raise SandboxError(f"sandbox helper failed (exit status {returncode})") from None
    if "error" in result:
        raise SandboxError(str(result["error"]))
    return int(result["exit"])


# The helper is started without ``site`` (-S) and without runpy (-c, not -m):
# it imports only ocibuild and the standard library, and every RUN waited for
# those (3-25 ms for site: the .pth files of the interpreter's site-packages;
# 4 ms for runpy).  -P keeps the caller's working directory off sys.path (a
# json.py there must not shadow the standard library's).  Its command line
# still names ocibuild.sandbox.init, which is how ocibuild.executor.cancel
# finds it (an argument of its own: HELPER_MODULE).
HELPER_MODULE = "ocibuild.sandbox.init"
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_HELPER_MAIN = (
    "import sys; sys.path.insert(0, sys.argv[2]); "
    "from ocibuild.sandbox.init import main; sys.exit(main(sys.argv[3:]))"
)


def _run_helper(args: list[str], sink: Callable[[bytes], None]) -> int:
    status_r, status_w = os.pipe()
    argv = [sys.executable, "-S", "-P", "-c", _HELPER_MAIN, HELPER_MODULE, _PACKAGE_PARENT]
    argv += ["--status-fd", str(status_w), "--parent", str(os.getpid()), *args]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(status_w,),
            start_new_session=True,
        )
    finally:
        os.close(status_w)
    with os.fdopen(status_r, "rb") as status, proc:
        assert proc.stdout is not None
        try:
            _pump(proc.stdout.fileno(), sink)
            proc.wait()
        except BaseException:
            _stop(proc)
            raise
        return _outcome(status.read(), proc.returncode)
