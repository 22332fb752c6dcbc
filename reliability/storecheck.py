"""What the crash, full-disk and concurrency trials share: fsck, builds, kills, a registry.

* :func:`fsck` runs ``ocibuild fsck --json`` on a store and returns a
  :class:`Verdict` (clean or not, the damage lines, how many stale leftovers);
* :func:`build` runs ``ocibuild build -q`` with ``SOURCE_DATE_EPOCH=0`` and
  returns the image ID (so two sound builds of one Dockerfile agree);
* :func:`kill_after` starts an ocibuild command and SIGKILLs it after a delay;
* :func:`copy_store` clones a prepared store (cheaper than importing again);
* :func:`registry` serves Debian's ``docker-registry`` on a loopback port, as
  tests/helpers/registry.py does for the test suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reliability.env import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from reliability.env import Env

__all__ = [
    "Verdict",
    "build",
    "context",
    "copy_store",
    "fsck",
    "kill_after",
    "registry",
    "run_env",
]

REGISTRY_BIN = "/usr/bin/docker-registry"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``ocibuild fsck`` said: clean, the damage it listed, how many stale leftovers."""

    clean: bool
    damage: tuple[str, ...]
    stale: int

    def __str__(self) -> str:
        return "clean" if self.clean else "; ".join(self.damage[:3]) or "fsck failed"


def run_env(**extra: str) -> dict[str, str]:
    """The environment ocibuild runs with in trials: this tree, offline, fixed epoch."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OCIBUILD_OFFLINE": "1",
        "SOURCE_DATE_EPOCH": "0",
        **extra,
    }


def fsck(env: Env, root: Path) -> Verdict:
    """``ocibuild fsck --json`` on ``root``."""
    proc = env.ocibuild(root, "fsck", "--json")
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return Verdict(False, (f"fsck exit {proc.returncode}: {proc.stderr.strip()[:200]}",), 0)
    problems = report["problems"]
    damage = tuple(
        f"{p['area']} {p['subject']}: {p['message']}" for p in problems if not p["stale"]
    )
    stale = sum(1 for p in problems if p["stale"])
    return Verdict(bool(report["clean"]) and proc.returncode == 0, damage, stale)


def build(
    env: Env, root: Path, ctx: Path, *args: str, timeout: float = 300
) -> tuple[str | None, str]:
    """``ocibuild build -q ARGS CTX``: (image ID or None, stderr's last line)."""
    proc = subprocess.run(
        [*env.command(root, "build", "-q", *args, str(ctx))],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=run_env(),
        check=False,
    )
    err = proc.stderr.strip().splitlines()
    last = err[-1] if err else ""
    return (proc.stdout.strip() if proc.returncode == 0 else None), last


def context(base: Path, dockerfile: str, files: Mapping[str, bytes] | None = None) -> Path:
    """A build context dir under ``base`` with ``dockerfile`` and ``files``."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        (base / name).write_bytes(data)
    return base


def copy_store(template: Path, dest: Path) -> Path:
    """A copy of the store ``template`` at ``dest`` (hard links would share damage)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def kill_after(env: Env, root: Path, args: tuple[str, ...], delay: float) -> int | None:
    """Run ``ocibuild ARGS`` and SIGKILL it after ``delay`` s; its exit status if it
    finished first (None when it was killed)."""
    proc = subprocess.Popen(
        env.command(root, *args),
        env=run_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def timed(env: Env, root: Path, args: tuple[str, ...]) -> float:
    """How long ``ocibuild ARGS`` takes uninterrupted (raises if it fails)."""
    start = time.monotonic()
    proc = subprocess.run(
        env.command(root, *args), env=run_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ocibuild {' '.join(args)}: {proc.stderr.strip()[-300:]}")
    return time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def registry(work: Path) -> Iterator[str]:
    """docker-registry with storage under ``work``; yields ``127.0.0.1:PORT``."""
    port = _free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    with (work / "log").open("wb") as log:
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
        try:
            _wait_ready(f"http://127.0.0.1:{port}/v2/", proc)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("docker-registry did not become ready")


def manifest_digest(host: str, repo: str, tag: str) -> str | None:
    """The registry's Docker-Content-Digest for ``repo:tag`` (None if absent)."""
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            digest: str | None = response.headers.get("Docker-Content-Digest")
            return digest
    except urllib.error.HTTPError:
        return None
