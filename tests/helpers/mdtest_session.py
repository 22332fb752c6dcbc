"""Running a console block's commands in one bash session and judging each one.

The process side of :mod:`helpers.mdtest`: ``tests/integration/test_docs.py``
runs each block through :func:`run_console`; a test that a file hands its
blocks to (``<!-- docs-test: run-by ... -->``) runs them all the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import TYPE_CHECKING

import pytest

from helpers.mdtest import Command, match_output

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["run_console", "session_script"]


def run_console(
    cmds: Sequence[Command],
    where: str,
    scratch: Path,
    env: dict[str, str],
    outdir: Path,
    *,
    timeout: float,
) -> None:
    """Run ``cmds`` in one bash session in ``scratch``; fail the test at the first surprise."""
    outdir.mkdir()
    script = outdir.parent / f"{outdir.name}.sh"
    script.write_text(session_script(cmds, outdir))
    _run_session(script, scratch, env, timeout)
    for n, cmd in enumerate(cmds):
        problem = _judge(cmd, outdir / str(n))
        if problem is not None:
            pytest.fail(
                f"{where} (command at line {cmd.line}):\n$ {cmd.source}\n{problem}", pytrace=False
            )


def session_script(cmds: Sequence[Command], outdir: Path) -> str:
    """One bash script for a block: each command's output and status go to
    ``outdir/N`` and ``outdir/N.rc``; it stops at the first unexpected status."""
    lines = ["set +e"]
    for n, cmd in enumerate(cmds):
        out = outdir / str(n)
        lines += [
            "{",
            cmd.source,
            f"}} >'{out}' 2>&1 </dev/null",
            f"echo $? >'{out}.rc'",
            f"[ \"$(cat '{out}.rc')\" = {cmd.exit_status} ] || exit 0",
        ]
    return "\n".join(lines) + "\n"


def _run_session(script: Path, scratch: Path, env: dict[str, str], timeout: float) -> None:
    """Run the block's script in its own process group, and end whatever it
    left running in the background (a registry whose `kill` never came)."""
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=scratch,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the block took more than {timeout} s", pytrace=False)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _judge(cmd: Command, out: Path) -> str | None:
    rc_file = out.with_name(out.name + ".rc")
    if not rc_file.exists():
        return "the command did not finish (an `exit` in the block, or the shell stopped)"
    output = out.read_text(errors="replace")
    status = int(rc_file.read_text())
    if status != cmd.exit_status:
        return f"exit status {status}, expected {cmd.exit_status}; output:\n{output}"
    return match_output(cmd.expected, output)
