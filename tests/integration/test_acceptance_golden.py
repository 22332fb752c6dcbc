"""Golden build cases for Dockerfile syntax newer than the BuildKit here.

Debian's docker.io 20.10 predates heredocs, ``COPY --link/--exclude/
--parents``, ``ADD --checksum`` and the POSIX variable forms without a colon,
so these cases are checked against the current Dockerfile reference instead
of a live BuildKit (docs/design/007-golden-build-cases.md says why each
expectation is right).

A case is tests/cases/golden/<name>/ with a ``Dockerfile``, an optional
``context/`` and ``args.json`` (the keys of tests/helpers/cases.py), and an
``expected.json`` that is either::

    {"rootfs": [[path, kind, mode, uid, gid, sha256, link], ...],
     "config": {...the summarised config fields...},
     "history": [created_by, ...]}

or ``{"error": [texts the error must contain]}``.  The rootfs is the
whole final image: every final stage starts ``FROM scratch``, so it is
exactly what the Dockerfile added.  RUN needs a shell, so the RUN cases
work in a ``FROM busybox:latest`` stage (the session's busybox base is
imported into the case's store, with the same epoch, only for a Dockerfile
that names it) and copy their results into the scratch stage.
``OCIBUILD_UPDATE_GOLDEN=1`` rewrites the success files from ocibuild's
output (never the error files); review every diff by hand against the
reference before committing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.builders import OCIBUILD_CLI
from helpers.cases import BuildCase, load_case
from helpers.configs import history, summarise
from helpers.images import load_image
from helpers.rootfs import normalise_layers

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "cases" / "golden"
UPDATE = os.environ.get("OCIBUILD_UPDATE_GOLDEN") == "1"
EPOCH = "1700000000"
BASE_IMAGE = "busybox:latest"

pytestmark = pytest.mark.root


def _cases() -> list[BuildCase]:
    return [load_case(d) for d in sorted(GOLDEN_DIR.iterdir()) if (d / "Dockerfile").is_file()]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "OCIBUILD_ROOT": str(root), "SOURCE_DATE_EPOCH": EPOCH}


def _import_base(request: pytest.FixtureRequest, case: BuildCase, root: Path) -> None:
    """Import the busybox base when the case's Dockerfile builds FROM it."""
    lines = case.dockerfile_path().read_text().splitlines()
    if not any(line.split()[:2] == ["FROM", BASE_IMAGE] for line in lines):
        return
    rootfs: Path = request.getfixturevalue("busybox_rootfs")
    argv = [sys.executable, "-c", OCIBUILD_CLI, "import", str(rootfs), BASE_IMAGE]
    subprocess.run(argv, env=_env(root), capture_output=True, timeout=600, check=True)


def _run_build(case: BuildCase, root: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    context = case.prepare_context(scratch / "context")
    argv = [sys.executable, "-c", OCIBUILD_CLI, "build", "-f", str(case.dockerfile_path())]
    argv += ["-t", f"golden-{case.name}:test"]
    for key, value in sorted(case.build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    if case.target:
        argv += ["--target", case.target]
    return subprocess.run(
        [*argv, str(context)],
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def observed(root: Path, tag: str) -> dict[str, Any]:
    """The golden view of a stored image: rootfs rows, config fields, history."""
    image = load_image(root, tag)
    rows = [
        [
            e.path,
            e.kind,
            "----" if e.mode is None else f"{e.mode:04o}",
            e.uid,
            e.gid,
            e.sha256,
            e.link,
        ]
        for e in normalise_layers(image.layers)
    ]
    return {
        "rootfs": rows,
        "config": summarise(image.config)["config"],
        "history": [h.get("created_by", "") for h in history(image.config)],
    }


def dump(data: dict[str, Any]) -> str:
    """expected.json text with one rootfs row or history entry per line."""
    rows = ",\n  ".join(json.dumps(row) for row in data["rootfs"])
    entries = ",\n  ".join(json.dumps(h) for h in data["history"])
    config = json.dumps(data["config"], indent=2, sort_keys=True).replace("\n", "\n ")
    return f'{{"rootfs": [\n  {rows}\n ],\n "config": {config},\n "history": [\n  {entries}\n ]}}\n'


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.name)
def test_golden_case(case: BuildCase, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    expected_file = case.directory / "expected.json"
    expected: dict[str, Any] = (
        json.loads(expected_file.read_text()) if expected_file.is_file() else {}
    )
    root = tmp_path / "store"
    _import_base(request, case, root)
    proc = _run_build(case, root, tmp_path)
    if "error" in expected:
        assert proc.returncode == 1, proc.stderr
        for needle in expected["error"]:
            assert needle in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    actual = observed(root, f"golden-{case.name}:test")
    if UPDATE:
        expected_file.write_text(dump(actual))
        return
    assert expected, f"{expected_file} missing: run with OCIBUILD_UPDATE_GOLDEN=1 and review"
    assert actual["history"] == expected["history"]
    assert actual["config"] == expected["config"]
    assert actual["rootfs"] == expected["rootfs"]
