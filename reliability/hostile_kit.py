"""Tools the hostile-input and sandbox trials share: canaries, measured runs, crafted tars.

* :class:`Canary`: a host file with a random token, a host directory that
  must stay empty; :meth:`Canary.problem` says what an attack did to them
  (changed, hard-linked, filled) and whether the token reached the store.
* :func:`run_measured`: ``ocibuild ARGS --root ROOT`` as a process whose
  wall time and peak RSS (``VmHWM``, sampled every 20 ms) are reported.
* :func:`tar_bytes`, :func:`docker_archive`: tars with any entry a hostile
  author could write (``../``, absolute names, links, devices, whiteouts).
* :func:`judge`: the verdict on one attempt: refused with one line and exit
  1, or built, never a traceback; and the canary untouched.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reliability.env import REPO

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reliability.env import Env

__all__ = [
    "Canary",
    "Entry",
    "Outcome",
    "docker_archive",
    "judge",
    "run_measured",
    "tar_bytes",
    "zero_bomb",
]


@dataclass(frozen=True, slots=True)
class Canary:
    """A host file (``file``, holding ``token``) and an empty host dir (``empty``)."""

    file: Path
    empty: Path
    token: bytes
    before: os.stat_result

    @classmethod
    def make(cls) -> Canary:
        tag = secrets.token_hex(4)
        file = Path(f"/tmp/reliability-canary-{tag}")
        token = f"canary-{secrets.token_hex(16)}".encode()
        file.write_bytes(token + b"\n")
        empty = Path(f"/tmp/reliability-canary-dir-{tag}")
        empty.mkdir()
        return cls(file, empty, token, file.lstat())

    def problem(self, store: Path | None = None) -> str | None:
        """What is wrong with the canary (None: untouched, the token not in ``store``)."""
        st = self.file.lstat()
        if (
            self.file.read_bytes() != self.token + b"\n"
            or st.st_mtime_ns != self.before.st_mtime_ns
        ):
            return f"{self.file} was changed"
        if st.st_nlink != 1:
            return f"{self.file} was hard-linked ({st.st_nlink} links)"
        if any(self.empty.iterdir()):
            return f"{self.empty} was written into"
        if store is not None and _holds(store, self.token):
            return f"{self.file}'s content reached the store"
        return None

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)
        shutil.rmtree(self.empty, ignore_errors=True)


def _holds(store: Path, token: bytes) -> bool:
    """Whether any file under ``store`` (gzip blobs uncompressed) holds ``token``."""
    for path in store.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as src:
            head = src.read(2)
            src.seek(0)
            stream = gzip.GzipFile(fileobj=src) if head == b"\x1f\x8b" else src
            try:
                if _stream_holds(stream, token):
                    return True
            except (OSError, EOFError):
                continue
    return False


def _stream_holds(stream: io.BufferedIOBase | gzip.GzipFile, token: bytes) -> bool:
    tail = b""
    while chunk := stream.read(1 << 20):
        if token in tail + chunk:
            return True
        tail = chunk[-len(token) :]
    return False


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one ocibuild process ended: exit code, stderr, seconds, peak RSS (MiB)."""

    returncode: int
    stderr: str
    seconds: float
    rss_mib: float

    @property
    def figures(self) -> str:
        return f"{self.seconds:.1f} s, {self.rss_mib:.0f} MiB RSS"

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        last = lines[-1] if lines else ""
        line = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in last)
        return line if len(line) <= 160 else f"{line[:70]}...{line[-80:]}"


def run_measured(
    env: Env, root: Path, *args: str, timeout: float = 300, stdin: Path | None = None
) -> Outcome:
    """Run ``ocibuild ARGS --root ROOT``; the time and peak RSS are the CLI process's."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), "OCIBUILD_OFFLINE": "1"}
    err_path = env.scratch("stderr") / "stderr"
    start = time.monotonic()
    with err_path.open("wb") as err, (stdin or Path("/dev/null")).open("rb") as inp:
        proc = subprocess.Popen(
            env.command(root, *args), stdin=inp, stdout=subprocess.DEVNULL, stderr=err, env=environ
        )
        status, rss_mib = _wait(proc, timeout)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace")
    return Outcome(code, stderr, seconds, rss_mib)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for ``proc``; its exit status and peak RSS in MiB.

    The peak is ``VmHWM`` of /proc/PID/status, read while it runs: the
    ``ru_maxrss`` of ``wait4`` would count the parent's memory at fork time.
    """
    deadline = time.monotonic() + timeout
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, _hwm_kib(proc.pid))
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, peak_kib / 1024
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.02)


def _hwm_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def judge(
    outcome: Outcome, canary: Canary | None, store: Path | None, *, built: bool | None
) -> str | None:
    """Why the attempt did not hold (None: it held).

    ``built``: True when the build must succeed, False when it must be
    refused, None when either is fine.  A refusal is exit 1 and one line
    ``ocibuild: ...``; a traceback never holds.
    """
    if "Traceback" in outcome.stderr:
        return f"traceback: {outcome.last_line}"
    if outcome.returncode not in (0, 1):
        return f"exit {outcome.returncode}: {outcome.last_line}"
    if built is not None and (outcome.returncode == 0) != built:
        wanted = "success" if built else "refusal"
        return f"expected {wanted}, got exit {outcome.returncode}: {outcome.last_line}"
    if outcome.returncode == 1:
        lines = outcome.stderr.strip().splitlines()
        if not lines or not lines[-1].startswith("ocibuild: "):
            return f"no one-line error: {outcome.stderr.strip()[:160]!r}"
    return canary.problem(store) if canary is not None else None


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar member as a hostile author writes it."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    dev: tuple[int, int] = (0, 0)


def tar_bytes(entries: Iterable[Entry]) -> bytes:
    """A PAX tar holding exactly ``entries``, names untouched."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.linkname, info.mode = e.kind, e.link, e.mode
            info.devmajor, info.devminor = e.dev
            info.size = len(e.data) if e.kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(e.data) if info.size else None)
    return buf.getvalue()


def docker_archive(dest: Path, name: str, layers: list[bytes]) -> Path:
    """Write a ``docker save`` tarball of image ``name`` with these layer tars (maybe gzip'd)."""
    diff_ids = [_diff_id(layer) for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    files = {config_name: config}
    names = []
    for i, layer in enumerate(layers):
        names.append(f"l{i}/layer.tar")
        files[names[-1]] = layer
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": names}]
    files["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(dest, "w") as tar:
        for fname, data in files.items():
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def _diff_id(layer: bytes) -> str:
    digest = hashlib.sha256()
    if layer.startswith(b"\x1f\x8b"):
        with gzip.GzipFile(fileobj=io.BytesIO(layer)) as src:
            while chunk := src.read(1 << 24):
                digest.update(chunk)
    else:
        digest.update(layer)
    return f"sha256:{digest.hexdigest()}"


def zero_bomb(size: int) -> bytes:
    """A gzip'd tar holding one file of ``size`` zero bytes (about 1/1000 of it compressed)."""
    info = tarfile.TarInfo("bomb")
    info.size = size
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(info.tobuf(tarfile.PAX_FORMAT))
        zeros = bytes(1 << 24)
        left = size
        while left:
            gz.write(zeros[: min(left, len(zeros))])
            left -= min(left, len(zeros))
        gz.write(bytes(-size % 512) + bytes(1024))
    return out.getvalue()
