"""Run the documentation's examples, so the docs cannot drift from the program.

Every ```` ```console ```` and ```` ```python ```` block of README.md and
docs/**/*.md runs (the convention is in tests/helpers/mdtest.py and
docs/testing.md).  Each block gets a fresh scratch directory holding a copy
of examples/ as ``./examples``, and ``$OCIBUILD_ROOT``, a fresh store with
``busybox:latest`` (imported from examples/make-busybox-rootfs.sh's output).
The ``ocibuild`` on ``PATH`` is this tree's.  A console block's commands run
in one bash session (``cd`` and variables carry over), each with stdin from
/dev/null; the block stops at its first surprise.  Files that opt out with
``<!-- docs-test: skip REASON -->`` are reported as skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OcibuildBuilder
from helpers.mdtest import (
    Block,
    DocFormatError,
    blocks,
    commands,
    run_by,
    skip_reason,
)
from helpers.mdtest_session import run_console
from helpers.prereq import REPO

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

TIMEOUT = 120  # seconds a block may take


@dataclass(frozen=True, slots=True)
class DocCase:
    """One block to run, or a file that opted out (``skip``) or breaks the convention."""

    path: Path
    block: Block | None = None
    skip: str | None = None
    error: str | None = None
    run_by: str | None = None

    @property
    def id(self) -> str:
        name = self.path.relative_to(REPO).as_posix() if self.path.is_relative_to(REPO) else "-"
        return f"{name}:{self.block.line}" if self.block else name


def _doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _cases() -> list[DocCase]:
    cases: list[DocCase] = []
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        try:
            reason = skip_reason(text)
            found = [b for b in blocks(text) if b.runs]
            for block in found:
                if block.lang == "console":
                    commands(block)  # convention errors show up at collection
        except DocFormatError as err:
            cases.append(DocCase(path, error=str(err)))
            continue
        if reason is not None:
            cases.append(DocCase(path, skip=reason))
        elif run_by(text) is not None:
            cases.append(DocCase(path, run_by=run_by(text)))
        else:
            cases.extend(DocCase(path, block) for block in found)
    return cases


CASES = _cases()


@pytest.fixture(scope="session")
def docs_store(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Path:
    """A store holding busybox:latest, copied for each block."""
    root = tmp_path_factory.mktemp("docs-store") / "store"
    OcibuildBuilder(root).import_rootfs(busybox_rootfs, "busybox:latest")
    return root


@pytest.fixture(scope="session")
def docs_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with an ``ocibuild`` that runs this tree with this interpreter."""
    bindir = tmp_path_factory.mktemp("docs-bin")
    wrapper = bindir / "ocibuild"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m ocibuild "$@"\n')
    wrapper.chmod(0o755)
    return bindir


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_doc_block(case: DocCase, docs_store: Path, docs_bin: Path, tmp_path: Path) -> None:
    if case.error is not None:
        pytest.fail(f"{case.id}: {case.error}", pytrace=False)
    if case.skip is not None:
        pytest.skip(f"docs-test: skip {case.skip}")
    if case.run_by is not None:
        _check_run_by(case.path, case.run_by)
        return
    _run(case, *_prepare(tmp_path, docs_store, docs_bin), tmp_path / "out")


def _check_run_by(doc: Path, runner: str) -> None:
    """A file handed to another test: that test must exist and read this file."""
    test = REPO / runner
    assert test.is_file(), f"{doc}: docs-test: run-by {runner}: no such test"
    assert doc.relative_to(REPO).as_posix() in test.read_text(), f"{runner} does not run {doc}"


def _prepare(tmp: Path, docs_store: Path, docs_bin: Path) -> tuple[Path, dict[str, str]]:
    """A fresh scratch dir with ./examples, and an environment with a fresh store."""
    scratch = tmp / "scratch"
    shutil.copytree(REPO / "examples", scratch / "examples", symlinks=True)
    store = tmp / "store"
    shutil.copytree(docs_store, store, symlinks=True)
    return scratch, _environment(tmp, store, docs_bin)


def _run(case: DocCase, scratch: Path, env: dict[str, str], outdir: Path) -> None:
    assert case.block is not None
    if case.block.lang == "python":
        _run_python(case, scratch, env)
    else:
        run_console(commands(case.block), case.id, scratch, env, outdir, timeout=TIMEOUT)


WRONG = """\
```console
$ echo one; echo two >&2
one
two
$ echo three
four
```

```console
$ false
```

```console
$ true
[exit 1]
```

```python
assert 1 + 1 == 3
```
"""


@pytest.mark.parametrize("index", range(4))
def test_the_runner_fails_wrong_blocks(
    index: int, docs_store: Path, docs_bin: Path, tmp_path: Path
) -> None:
    """Each of WRONG's blocks is wrong in one way; running it must fail the test."""
    case = DocCase(tmp_path / "wrong.md", blocks(WRONG)[index])
    with pytest.raises(pytest.fail.Exception):
        _run(case, *_prepare(tmp_path, docs_store, docs_bin), tmp_path / "out")


RIGHT = """\
```console
$ mkdir sub && cd sub; X=1
$ echo $X; pwd
1
<any>/scratch/sub
$ ocibuild images -q
<id>
$ ls ../examples/Dockerfile.hello
../examples/Dockerfile.hello
```
"""


def test_the_runner_passes_a_right_block(docs_store: Path, docs_bin: Path, tmp_path: Path) -> None:
    """State carries over between a block's commands; the store holds busybox only."""
    case = DocCase(tmp_path / "right.md", blocks(RIGHT)[0])
    _run(case, *_prepare(tmp_path, docs_store, docs_bin), tmp_path / "out")


def _environment(tmp: Path, store: Path, bindir: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir()
    return {
        **os.environ,
        "OCIBUILD_ROOT": str(store),
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "COLUMNS": "80",
    }


def _run_python(case: DocCase, scratch: Path, env: dict[str, str]) -> None:
    assert case.block is not None
    program = scratch.parent / "block.py"
    program.write_text("\n".join(case.block.lines) + "\n")
    proc = subprocess.run(
        [sys.executable, str(program)],
        cwd=scratch,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"{case.id}: python block failed:\n{proc.stdout}", pytrace=False)
