"""The environment a trial runs in: a scratch dir, the ocibuild command, a base image.

``Env.make(workdir)`` prepares, once per ``run.py`` invocation, a busybox
rootfs tarball (examples/make-busybox-rootfs.sh) that trials import into their
own stores with :meth:`Env.new_store`.  Trials run ocibuild as users do, as a
separate process (:meth:`Env.ocibuild`), so kills and crashes are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO", "Env"]

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Env:
    """Scratch space and the base rootfs tarball shared by the trials of one run."""

    workdir: Path
    busybox_tar: Path

    @classmethod
    def make(cls, workdir: Path) -> Env:
        workdir.mkdir(parents=True, exist_ok=True)
        tar = workdir / "busybox.tar"
        if not tar.exists():
            script = REPO / "examples" / "make-busybox-rootfs.sh"
            subprocess.run([str(script), str(tar)], check=True, capture_output=True)
        return cls(workdir, tar)

    def scratch(self, name: str) -> Path:
        """A new empty directory for one trial (or one try)."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))

    def command(self, root: Path, *args: str) -> list[str]:
        """The argv of ``ocibuild --root ROOT ARGS...`` with this repository's package."""
        return [sys.executable, "-m", "ocibuild", *args, "--root", str(root)]

    def ocibuild(
        self, root: Path, *args: str, timeout: float = 300, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ocibuild ARGS --root ROOT`` to the end; never raises on a non-zero exit."""
        env = {**os.environ, "PYTHONPATH": str(REPO), "OCIBUILD_OFFLINE": "1"}
        return subprocess.run(
            self.command(root, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
            check=False,
        )

    def new_store(self, name: str) -> Path:
        """A fresh store holding ``busybox:latest``."""
        root = self.scratch(name) / "store"
        proc = self.ocibuild(root, "import", str(self.busybox_tar), "busybox:latest")
        if proc.returncode != 0:
            raise RuntimeError(f"import failed: {proc.stderr.strip()}")
        return root
