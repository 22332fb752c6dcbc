"""Acceptance: user errors through the real CLI, as a user would see them.

For each bad input the CLI runs as a subprocess (working directory = the
test's temp dir, so ``-f sub/Dockerfile.dev`` is relative as a user types
it) and must: exit 1 (2 for argparse usage errors); print exactly ONE line
on stderr, ``ocibuild: MESSAGE``, besides the plain progress of the steps
reached (``#N ...`` lines and the blank lines between steps), where a
message tied to a Dockerfile line
is ``NAME:LINE: ...`` with NAME the Dockerfile path as given (``Dockerfile``
by default); print no traceback; and leave the store as it was: the same
``index.json`` bytes and nothing new in ``ocibuild/tmp``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OCIBUILD_CLI

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class BadInput:
    """One bad build: files to write (path -> text), CLI args, what to expect.

    ``pattern`` is a regex the stderr line (after ``ocibuild: ``) must match
    from its start.  ``argv`` ends with the context path unless it already
    names one; ``"{ctx}"`` in it is replaced with the context directory.
    """

    files: dict[str, str]
    argv: tuple[str, ...]
    pattern: str
    code: int = 1
    add_context: bool = True
    env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, BadInput] = {
    "unknown-instruction": BadInput(
        {"ctx/Dockerfile": "FROM busybox\nFORM x\n"},
        (),
        r"Dockerfile:2: unknown instruction: FORM",
    ),
    "unknown-instruction-in-f-file": BadInput(
        {"sub/Dockerfile.dev": "FROM busybox\n\nBOGUS x\n", "ctx/f.txt": "f\n"},
        ("-f", "sub/Dockerfile.dev"),
        r"sub/Dockerfile\.dev:3: unknown instruction: BOGUS",
    ),
    "missing-copy-source": BadInput(
        {"ctx/Dockerfile": "FROM busybox\nCOPY nope.txt /\n"},
        (),
        r"Dockerfile:2: .*nope\.txt",
    ),
    "copy-source-excluded-by-dockerignore": BadInput(
        {
            "ctx/Dockerfile": "FROM busybox\nCOPY secret.txt /\n",
            "ctx/.dockerignore": "secret.txt\n",
            "ctx/secret.txt": "s\n",
        },
        (),
        r"Dockerfile:2: .*secret\.txt",
    ),
    "bad-chown-user": BadInput(
        {"ctx/Dockerfile": "FROM busybox\nCOPY --chown=nosuchuser f.txt /\n", "ctx/f.txt": "f\n"},
        (),
        r"Dockerfile:2: .*nosuchuser",
    ),
    "unknown-target": BadInput(
        {"ctx/Dockerfile": "FROM busybox AS a\nFROM busybox AS b\n"},
        ("--target", "nope"),
        r".*\bnope\b",
    ),
    "stage-cycle": BadInput(
        {
            "ctx/Dockerfile": (
                "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n"
            )
        },
        (),
        r"Dockerfile:\d+: .*(circular|cycl|before it is defined)",
    ),
    "bad-dockerfile-flag": BadInput(
        {"ctx/Dockerfile": "FROM busybox\nCOPY --bogus=1 f.txt /\n", "ctx/f.txt": "f\n"},
        (),
        r"Dockerfile:2: .*unknown flag: (--)?bogus",
    ),
    "unterminated-heredoc": BadInput(
        {"ctx/Dockerfile": "FROM busybox\nCOPY <<EOF /x\nhello\n"},
        (),
        r"Dockerfile:\d+: .*heredoc",
    ),
    "instruction-before-from": BadInput(
        {"ctx/Dockerfile": "COPY f.txt /\n", "ctx/f.txt": "f\n"},
        (),
        r"Dockerfile:1: .*no build stage",
    ),
    "unknown-base-image": BadInput(
        {"ctx/Dockerfile": "FROM nosuchimage:1\n"},
        (),
        r"Dockerfile:1: .*nosuchimage",
    ),
    "missing-dockerfile": BadInput(
        {"ctx/f.txt": "f\n"},
        (),
        r"cannot read Dockerfile: .*Dockerfile",
    ),
    "missing-f-file": BadInput(
        {"ctx/f.txt": "f\n"},
        ("-f", "nope/Dockerfile"),
        r"cannot read Dockerfile: .*nope/Dockerfile",
    ),
    "missing-context-dir": BadInput(
        {}, ("does-not-exist",), r"unable to prepare context: .*does-not-exist", add_context=False
    ),
    "bad-output": BadInput(
        {"ctx/Dockerfile": "FROM busybox\n"},
        ("-o", "type=bogus,dest=x"),
        r"invalid --output",
    ),
    "bad-build-arg": BadInput(
        {"ctx/Dockerfile": "FROM busybox\n"},
        ("--build-arg", "=value"),
        r"invalid --build-arg",
    ),
    "bad-tag": BadInput(
        {"ctx/Dockerfile": "FROM busybox\n"},
        ("-t", "UPPER:1"),
        r".*(lowercase|invalid reference format)",
    ),
    "bad-source-date-epoch": BadInput(
        {"ctx/Dockerfile": "FROM busybox\n"},
        (),
        r"invalid SOURCE_DATE_EPOCH",
        env={"SOURCE_DATE_EPOCH": "yesterday"},
    ),
    "unknown-cli-flag": BadInput(
        {"ctx/Dockerfile": "FROM busybox\n"}, ("--bogus-flag",), r"", code=2
    ),
}

# Errors found only while executing steps, which needs root (overlayfs).
NEEDS_ROOT = {"missing-copy-source", "copy-source-excluded-by-dockerignore", "bad-chown-user"}


@pytest.fixture(scope="module")
def store(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store that already holds busybox:latest (so index.json has content)."""
    root = tmp_path_factory.mktemp("errors") / "store"
    subprocess.run(
        [sys.executable, "-c", OCIBUILD_CLI, "import", str(busybox_rootfs), "busybox:latest"],
        env={**os.environ, "OCIBUILD_ROOT": str(root)},
        check=True,
        capture_output=True,
    )
    return root


def _tmp_entries(store: Path) -> set[str]:
    tmp = store / "ocibuild" / "tmp"
    return {p.name for p in tmp.iterdir()} if tmp.is_dir() else set()


def _progress(line: str) -> bool:
    """A line of plain progress output (``#3 [2/2] COPY ...``, ``#3 ERROR: ...``) or a gap."""
    return line == "" or re.match(r"#\d+ ", line) is not None


def _params() -> list[object]:
    return [
        pytest.param(CASES[name], id=name, marks=[pytest.mark.root] if name in NEEDS_ROOT else [])
        for name in CASES
    ]


@pytest.mark.parametrize("bad", _params())
def test_user_error_is_one_clean_line(bad: BadInput, store: Path, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    for name, text in bad.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    index_before = (store / "index.json").read_bytes()
    tmp_before = _tmp_entries(store)
    argv = [sys.executable, "-c", OCIBUILD_CLI, "build", *bad.argv]
    if bad.add_context:
        argv.append("ctx")
    env = {**os.environ, "OCIBUILD_ROOT": str(store), **bad.env}
    if "SOURCE_DATE_EPOCH" not in bad.env:
        env.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == bad.code, proc.stderr
    if bad.code == 2:
        assert "usage:" in proc.stderr
        assert "error: unrecognized arguments: --bogus-flag" in proc.stderr.splitlines()[-1]
    else:
        # Steps reached before the error are shown first (plain progress, ``#N ...``).
        lines = [line for line in proc.stderr.rstrip("\n").split("\n") if not _progress(line)]
        assert len(lines) == 1, proc.stderr
        message = lines[0].removeprefix("ocibuild: ")
        assert lines[0].startswith("ocibuild: "), proc.stderr
        assert re.match(bad.pattern, message), f"{message!r} !~ {bad.pattern!r}"
    assert (store / "index.json").read_bytes() == index_before
    assert _tmp_entries(store) == tmp_before
