"""sources_checksum on what only root can make: owners and device nodes."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from ocibuild.executor.checksum import sources_checksum
from ocibuild.executor.context import BuildContext

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root


def checksum(root: Path) -> str:
    context = BuildContext.from_dir(root)
    return sources_checksum(context, (".",), exclude=(), parents=False, db=None)


def test_owner_as_the_tree_reports_it(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    seen = {checksum(tmp_path)}
    os.chown(tmp_path / "f", 1000, 0)
    seen.add(checksum(tmp_path))
    os.chown(tmp_path / "f", 1000, 1000)
    seen.add(checksum(tmp_path))
    os.chown(tmp_path / "d", 5, 5)
    seen.add(checksum(tmp_path))
    assert len(seen) == 4


def test_device_numbers(tmp_path: Path) -> None:
    os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    seen = {checksum(tmp_path)}
    for kind, minor in ((stat.S_IFCHR, 5), (stat.S_IFBLK, 5)):
        (tmp_path / "null").unlink()
        os.mknod(tmp_path / "null", kind | 0o666, os.makedev(1, minor))
        seen.add(checksum(tmp_path))
    assert len(seen) == 3
