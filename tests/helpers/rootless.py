"""A throwaway non-root user that runs this tree's ocibuild (rootless tests and trials).

``rootless_user()`` (a context manager; needs root) creates a system user
with a home under /tmp, gives it subordinate uid/gid ranges (unless told
not to) that no other entry of /etc/subuid or /etc/subgid uses, and copies
this tree's ``ocibuild`` package and its parser dependency to a directory
the user can read: the repository may sit under a 0700 /root, as may the
interpreter (pyenv).  ``RootlessUser.ocibuild(*args)`` runs
``python -m ocibuild ARGS`` as that user with ``runuser`` and a clean
environment.  On exit the user, its subordinate ranges and its files go.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["RootlessUser", "problem", "rootless_user"]

REPO = Path(__file__).resolve().parent.parent.parent
SOURCE_DATE_EPOCH = "1700000000"
_TOOLS = ("useradd", "userdel", "usermod", "runuser", "newuidmap", "newgidmap")
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def problem() -> str | None:
    """Why rootless tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (to create a throwaway user)"
    missing = [t for t in _TOOLS if shutil.which(t, path=_SYSTEM_PATH) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install passwd util-linux uidmap)"
    return None


@dataclass(frozen=True)
class RootlessUser:
    """The user, its home (the store lives there) and how to run ocibuild as it."""

    name: str
    uid: int
    home: Path
    python: str
    pythonpath: Path
    subuid_start: int | None

    def run(
        self, argv: list[str], *, env: Mapping[str, str] = {}, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as the user in its home, with a clean environment plus ``env``."""
        base = {
            "HOME": str(self.home),
            "PATH": _SYSTEM_PATH,
            "PYTHONPATH": str(self.pythonpath),
            "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
            "OCIBUILD_OFFLINE": "1",
        }
        pairs = [f"{k}={v}" for k, v in {**base, **env}.items()]
        return subprocess.run(
            ["runuser", "-u", self.name, "--", "env", "-i", *pairs, *argv],
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ocibuild(
        self, *args: str, env: Mapping[str, str] = {}, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``python -m ocibuild ARGS`` as the user (store: its default one, in its home)."""
        return self.run([self.python, "-m", "ocibuild", *args], env=env, timeout=timeout)

    @property
    def store(self) -> Path:
        """The user's default store ($XDG_DATA_HOME/ocibuild)."""
        return self.home / ".local" / "share" / "ocibuild"


@contextlib.contextmanager
def rootless_user(*, subids: bool = True) -> Iterator[RootlessUser]:
    """A fresh user (with subordinate ids unless ``subids`` is False); removed on exit."""
    name = "ocibrl" + secrets.token_hex(4)
    base = Path(tempfile.mkdtemp(prefix="ocibuild-rootless-", dir="/tmp"))
    base.chmod(0o755)
    home, pkg = base / "home", base / "pkg"
    try:
        _copy_package(pkg)
        subprocess.run(
            ["useradd", "--system", "-M", "-d", str(home), "-s", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
        try:
            home.mkdir()
            shutil.chown(home, name, name)
            start = _add_subids(name) if subids else None
            uid = pwd.getpwnam(name).pw_uid
            python = _python_for(name, pkg)
            yield RootlessUser(name, uid, home, python, pkg, start)
        finally:
            subprocess.run(["userdel", name], capture_output=True, check=False)
            _drop_subids(name)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _copy_package(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "ocibuild", dest / "ocibuild", ignore=ignore)
    spec = importlib.util.find_spec("dockerfile_parse")
    assert spec is not None and spec.origin is not None
    shutil.copytree(Path(spec.origin).parent, dest / "dockerfile_parse", ignore=ignore)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _python_for(name: str, pkg: Path) -> str:
    """An interpreter (>= 3.11) the user can run: this one if reachable, else the system's."""
    probe = "import sys, dockerfile_parse, ocibuild; assert sys.version_info >= (3, 11)"
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        proc = subprocess.run(
            ["runuser", "-u", name, "--", "env", "-i", f"PYTHONPATH={pkg}", candidate, "-c", probe],
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            return candidate
    raise RuntimeError(f"no Python >= 3.11 that user {name} can run")


def _add_subids(name: str) -> int:
    """Give ``name`` 65536 subordinate uids and gids past every existing range."""
    end = 100000
    for path in (Path("/etc/subuid"), Path("/etc/subgid")):
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                end = max(end, int(fields[1]) + int(fields[2]))
    ids = f"{end}-{end + 65535}"
    subprocess.run(
        ["usermod", "--add-subuids", ids, "--add-subgids", ids, name],
        check=True,
        capture_output=True,
    )
    return end


def _drop_subids(name: str) -> None:
    """Remove ``name``'s lines from /etc/subuid and /etc/subgid (userdel may not)."""
    for path in (Path("/etc/subuid"), Path("/etc/subgid")):
        if not path.exists():
            continue
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(f"{name}:")]
        if kept != lines:
            path.write_text("".join(kept))
