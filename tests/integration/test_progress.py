"""``ocibuild build --progress``: BuildKit's plain lines, and the live tty view in a real terminal.

The plain test reads stderr line by line.  The tty test runs the CLI
inside tmux (a real pseudo-terminal, 120x40) and reads the screen with
``capture-pane`` while the build runs and after it ends, polling with a
deadline rather than sleeping.  Every Dockerfile sets a fresh
``ENV NONCE=...`` (no step of its own) so the session store's cache is not
shared between tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OCIBUILD_CLI
from helpers.prereq import unavailable

import ocibuild

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.root

TREE = Path(ocibuild.__file__).resolve().parent.parent


def _cli(
    root: Path, cwd: Path, *args: str, check: bool = True, python: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``ocibuild ARGS`` in ``cwd`` on the store ``root``; ``python``: interpreter flags."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["OCIBUILD_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, *python, "-c", OCIBUILD_CLI, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


@pytest.fixture
def ctx(ocibuild_base: str, tmp_path: Path) -> Path:
    directory = tmp_path / "ctx"
    directory.mkdir()
    (directory / "f.txt").write_text("one\n")
    return directory


def _dockerfile(ctx: Path, body: str, name: str = "Dockerfile") -> None:
    (ctx / name).write_text(f"FROM busybox:latest\nENV NONCE={uuid.uuid4().hex}\n{body}")


_SIZE = r"\d+(\.\d+)?(B|kB|MB)"


def test_plain_progress_line_by_line(ocibuild_root: Path, ctx: Path) -> None:
    _dockerfile(ctx, "RUN echo cached-step\nCOPY f.txt /f.txt\nRUN echo out-1 && echo out-2\n")
    _cli(ocibuild_root, ctx, "build", "-q", ".")
    (ctx / "f.txt").write_text("two\n")  # the COPY and the RUN after it run again
    proc = _cli(ocibuild_root, ctx, "build", "--progress=plain", "-t", "progress-plain:1", ".")
    expected = [
        r"#1 \[1/4\] FROM docker\.io/library/busybox:latest",
        r"#1 CACHED",
        r"",
        r"#2 \[2/4\] RUN echo cached-step",
        r"#2 CACHED",
        r"",
        r"#3 \[3/4\] COPY f\.txt /f\.txt",
        rf"#3 writing layer {_SIZE} \d+\.\ds done",
        r"#3 DONE \d+\.\ds",
        r"",
        r"#4 \[4/4\] RUN echo out-1 && echo out-2",
        r"#4 \d+\.\d{3} out-1",
        r"#4 \d+\.\d{3} out-2",
        rf"#4 writing layer {_SIZE} \d+\.\ds done",
        r"#4 DONE \d+\.\ds",
        r"ocibuild: built sha256:[0-9a-f]{64}",
        r"ocibuild: tagged progress-plain:1",
    ]
    lines = proc.stderr.rstrip("\n").split("\n")
    assert len(lines) == len(expected), proc.stderr
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} !~ {pattern!r}\n{proc.stderr}"
    assert proc.stdout == ""


def test_plain_progress_of_a_failed_run(ocibuild_root: Path, ctx: Path) -> None:
    _dockerfile(ctx, "RUN echo before && exit 3\n")
    proc = _cli(ocibuild_root, ctx, "build", "--progress=plain", ".", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.rstrip("\n").split("\n")
    assert lines[3] == "#2 [2/2] RUN echo before && exit 3"
    assert re.fullmatch(r"#2 \d+\.\d{3} before", lines[4])
    assert (
        lines[5]
        == "#2 ERROR: executor failed running [/bin/sh -c echo before && exit 3]: exit code: 3"
    )
    assert lines[6].startswith("ocibuild: Dockerfile:3: executor failed running")
    assert lines[7:] == ["before"]  # the output tail, as for every failed RUN


def test_plain_and_quiet_builds_do_not_import_rich(ocibuild_root: Path, ctx: Path) -> None:
    _dockerfile(ctx, "COPY f.txt /f.txt\nRUN echo hi\n")
    for flags in (["--progress=plain"], ["-q"], ["--progress=quiet"]):
        proc = _cli(ocibuild_root, ctx, "build", *flags, ".", python=("-X", "importtime"))
        modules = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()]
        assert "rich" not in modules, flags
        assert "ocibuild.executor" in modules  # the build did run in this process
    quiet = _cli(ocibuild_root, ctx, "build", "--progress=quiet", ".")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet.stdout) and quiet.stderr == ""


class _Pane:
    """A command running in a detached tmux session of its own server (socket)."""

    def __init__(self, tmp: Path, script: str) -> None:
        self.socket = f"ocibuild-test-{uuid.uuid4().hex[:8]}"
        path = tmp / "run.sh"
        path.write_text(script)
        path.chmod(0o755)
        self._tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "build", str(path))

    def _tmux(self, *args: str) -> str:
        argv = ["tmux", "-L", self.socket, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "build")

    def wait_for(self, ready: Callable[[str], bool], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ready(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never got there:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _running_with_output(screen: str) -> bool:
    running = re.search(r"#3 RUNNING \[3/3\] RUN for i in", screen)
    return running is not None and re.search(r"│ tick-[2-9]", screen) is not None


@pytest.mark.slow
def test_tty_progress_in_a_real_terminal(ocibuild_root: Path, ctx: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        unavailable("needs tmux (apt-get install tmux)")
    nonce = uuid.uuid4().hex
    head = f"FROM busybox:latest\nENV NONCE={nonce}\nRUN echo warm\n"
    (ctx / "Dockerfile.warm").write_text(head)
    (ctx / "Dockerfile").write_text(
        head + "RUN for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 0.5; done\n"
    )
    _cli(ocibuild_root, ctx, "build", "-q", "-f", "Dockerfile.warm", ".")
    script = (
        "#!/bin/sh\n"
        f"cd {ctx}\n"
        f"export OCIBUILD_ROOT={ocibuild_root} PYTHONPATH={TREE} OCIBUILD_OFFLINE=1\n"
        f"{sys.executable} -m ocibuild build --progress=tty -t progress-tty:1 .\n"
        "echo EXIT=$?\n"
        "sleep 300\n"
    )
    pane = _Pane(tmp_path, script)
    try:
        during = pane.wait_for(_running_with_output)
        assert "#1 CACHED  [1/3] FROM docker.io/library/busybox:latest" in during
        assert "#2 CACHED  [2/3] RUN echo warm" in during
        assert "[+] Building" in during
        final = pane.wait_for(lambda s: "EXIT=" in s)
    finally:
        pane.close()
    assert "EXIT=0" in final, final
    assert re.search(r"#3 DONE    \[3/3\] RUN for i in .* \d+\.\ds", final), final
    assert "#1 CACHED  [1/3] FROM docker.io/library/busybox:latest" in final
    assert "#2 CACHED  [2/3] RUN echo warm" in final
    assert "RUNNING" not in final and "│ tick-" not in final  # a done step's output is folded
    assert re.search(r"\(3/3 steps\)", final)
    assert re.search(r"ocibuild: built sha256:[0-9a-f]{64}", final)
    assert "ocibuild: tagged progress-tty:1" in final
