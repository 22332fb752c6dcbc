"""The RUN step: run a command over the stage's layers and keep what it changed.

:func:`run_step` decides with :mod:`ocibuild.executor.run_command` (argv,
env, user, history) and then, inside ``commit_layer``'s fresh upper dir:
describes an overlay of the stage's snapshots (topmost first) over that
upper dir (``RunSpec.overlay``), writes /etc/hosts, /etc/resolv.conf and a
heredoc script beside it, writes the bundle (``sandbox.write_bundle``) and
runs it with the chosen ``Runtime``.  The overlay is mounted by the sandbox
helper in its own private mount namespace, never by this process, so it
goes away with the helper even when this process is killed by SIGKILL.
Output goes to the caller's sink as it comes; its tail is kept for the
error of a failed RUN.  Once the run is over (and with it the mount),
``clean_upper`` removes the mount points the sandbox made, and
``commit_layer`` archives the upper dir and keeps it as the next snapshot.
BuildKit 20.10 adds a layer for every RUN, even one that changes nothing,
so this does too.

Every temp dir is owned by an ``ExitStack`` inside the scratch dir
``commit_layer`` removes on failure, so a failed or interrupted RUN leaves
nothing behind; after a SIGKILL the next build sweeps that scratch dir
(``store.scratch``).  ``Runtime.run`` is called from the calling thread,
which outlives the call, as the runtime's parent-death signal needs (see
docs/design/006-sandbox.md).
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ocibuild._record import field, record, replace
from ocibuild._rmtree import rmtree
from ocibuild.errors import StepFailed, UserError
from ocibuild.executor.layers import commit_layer
from ocibuild.executor.mount_setup import MountInputs, parse_mounts, prepare_mounts
from ocibuild.executor.run_command import (
    SCRIPT_DIR,
    failure_message,
    hosts_text,
    run_command,
    run_created_by,
    run_env,
    run_user,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ocibuild.dockerfile.instructions import Run
    from ocibuild.executor.layers import Layers
    from ocibuild.executor.mounts import RunMount
    from ocibuild.executor.run_command import RunCommand
    from ocibuild.executor.state import StageState
    from ocibuild.executor.upper import Upper
    from ocibuild.sandbox import Mount, RunSpec, Runtime

__all__ = ["RunContext", "run_step", "runtime_named"]

TAIL_LINES = 20
_TAIL_BYTES = 64 * 1024
_HOST_RESOLV = Path("/etc/resolv.conf")


def runtime_named(name: str) -> Runtime:
    """The runtime for ``--runtime``: ``builtin``, ``runc`` or ``crun``."""
    # The sandbox is imported when used: a build whose steps are all cache
    # hits never loads the bundle writer, the overlay helpers or ctypes.
    from ocibuild.sandbox.runtime import BuiltinRuntime, RuncRuntime

    if name == "builtin":
        return BuiltinRuntime()
    if name in ("runc", "crun"):
        return RuncRuntime(name)
    raise UserError(f"unknown runtime {name!r}: expected builtin, runc or crun")


def _no_output(chunk: bytes) -> None:
    del chunk


@record
class RunContext:
    """Build-wide inputs of RUN steps: runtime, default network, build args, output sink.

    ``mounts`` is what ``RUN --mount`` reads (None: ``--mount`` is refused).
    """

    runtime: Runtime
    network: Literal["host", "none"] = "host"
    build_args: Mapping[str, str] = field(default_factory=dict)
    output: Callable[[bytes], None] = _no_output
    mounts: MountInputs | None = None


class _Tail:
    """Forwards output chunks and keeps the last few KiB for an error message."""

    def __init__(self, forward: Callable[[bytes], None]) -> None:
        self._forward = forward
        self._buffer = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self._forward(chunk)
        self._buffer += chunk
        if len(self._buffer) > 2 * _TAIL_BYTES:
            del self._buffer[:-_TAIL_BYTES]

    def lines(self, count: int = TAIL_LINES) -> str:
        text = bytes(self._buffer).decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-count:])


def _network(instr: Run, default: Literal["host", "none"]) -> Literal["host", "none"]:
    match instr.network:
        case None | "default":
            return default
        case "host" | "none":
            return instr.network
        case other:
            raise UserError(f"unsupported network mode {other!r}: expected default, none or host")


def _check_supported(instr: Run, ctx: RunContext) -> tuple[RunMount, ...]:
    mounts = parse_mounts(instr.mounts)
    if mounts and ctx.mounts is None:
        raise UserError("RUN --mount is not available here")
    if instr.security not in (None, "sandbox"):
        raise UserError(f"RUN --security={instr.security} is not supported")
    return mounts


def run_step(
    layers: Layers, state: StageState, instr: Run, ctx: RunContext, created: str
) -> StageState:
    """Run one expanded RUN; returns the state with its layer and history."""
    from ocibuild.sandbox import RunSpec

    mounts = _check_supported(instr, ctx)
    command = run_command(instr, state.shell)
    view = layers.view(state.layers)
    who = run_user(state.user, view.read_text("/etc/passwd"), view.read_text("/etc/group"))
    spec = RunSpec(
        argv=command.argv,
        rootfs="",  # set once the overlay is mounted
        env=run_env(state, ctx.build_args, who.home),
        cwd=state.workdir,
        user=who.user,
        network=_network(instr, ctx.network),
    )
    lowers = layers.snapshots.ensure(layers.store, state.layers)

    def write(upper: Upper) -> None:
        _run_in(upper.root, lowers, spec, command, ctx, mounts)

    state = commit_layer(layers, state, write)
    return state.with_history(created, run_created_by(state, command.argv), empty_layer=False)


def _run_in(
    upper: Path,
    lowers: Sequence[Path],
    spec: RunSpec,
    command: RunCommand,
    ctx: RunContext,
    mounts: Sequence[RunMount] = (),
) -> None:
    """Run over an overlay the sandbox mounts; then drop its mount points from ``upper``."""
    from ocibuild.sandbox import Overlay, write_bundle
    from ocibuild.snapshot.overlay import SANDBOX_MOUNTPOINTS, clean_upper

    tmp = upper.parent
    tail = _Tail(ctx.output)
    with contextlib.ExitStack() as stack:
        merged, work, files = (_own_dir(stack, tmp / name) for name in ("merged", "work", "files"))
        spec = _with_files(spec, files, command)
        if mounts and ctx.mounts is not None:
            made = prepare_mounts(stack, files, mounts, ctx.mounts)
            spec = replace(spec, mounts=(*spec.mounts, *made))
        if not lowers:  # FROM scratch: overlayfs needs a lower, an empty one will do
            lowers_used: Sequence[Path] = (_own_dir(stack, tmp / "empty"),)
        else:
            lowers_used = lowers
        overlay = Overlay(
            tuple(str(p.resolve()) for p in lowers_used), str(upper.resolve()), str(work.resolve())
        )
        spec = replace(spec, rootfs=str(merged.resolve()), overlay=overlay)
        bundle = write_bundle(spec, files / "bundle").parent
        code = ctx.runtime.run(bundle, stdout_sink=tail, id=f"ocibuild-{secrets.token_hex(6)}")
    if code != 0:
        raise StepFailed(failure_message(command.argv, code), output_tail=tail.lines())
    extra = (*(m.destination for m in spec.mounts), SCRIPT_DIR)
    clean_upper(upper, lowers, (*SANDBOX_MOUNTPOINTS, *extra))


def _own_dir(stack: contextlib.ExitStack, path: Path) -> Path:
    """Make ``path``; the stack removes it (registered before any mount inside)."""
    path.mkdir()
    stack.callback(rmtree, path, ignore_errors=True)
    return path


def _with_files(spec: RunSpec, files: Path, command: RunCommand) -> RunSpec:
    """Write hosts, resolv.conf and the heredoc script; return the spec naming them."""
    from ocibuild.sandbox import DEFAULT_HOSTNAME, Mount

    hosts = files / "hosts"
    hosts.write_text(hosts_text(DEFAULT_HOSTNAME))
    resolv = files / "resolv.conf"
    resolv.write_bytes(_HOST_RESOLV.read_bytes() if _HOST_RESOLV.is_file() else b"")
    for path in (hosts, resolv):
        path.chmod(0o644)
    mounts: tuple[Mount, ...] = ()
    if command.script is not None:
        scripts = files / "scripts"
        scripts.mkdir()
        script = scripts / command.script.name
        script.write_text(command.script.content)
        script.chmod(0o755)
        dest = f"{SCRIPT_DIR}/{command.script.name}"
        mounts = (Mount(destination=dest, source=str(script), readonly=True),)
    return replace(
        spec, hosts=str(hosts.resolve()), resolv_conf=str(resolv.resolve()), mounts=mounts
    )
