"""The builders under benchmark and how one build is measured.

Owns running a builder and turning the run into a `Sample`: wall time from
`time.perf_counter` around the subprocesses, and a peak RSS in KiB whose
meaning depends on the builder (see benchmarks/README.md):

* ocibuild and buildah are the processes they start: `os.wait4` on each
  child gives the largest peak RSS of any single process in its tree (the
  child or any descendant it reaped), measured fresh per run.
* BuildKit runs inside dockerd, so the docker CLI's RSS means nothing.  We
  reset dockerd's high-water mark (`/proc/PID/clear_refs` = 5) before the build
  and read `VmHWM` after: dockerd's peak RSS during the build, idle baseline
  included.  If the reset is refused, the peak is not reported.

Each builder gives `reset()` (drop every cache, keep only the base image),
`prime(dockerfile)` (an untimed build of a trivial Dockerfile, so the builder's
own code is in the page cache again), `build(workload, mode)` (measured) and
`describe()` (its version).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from workloads import Workload

DOCKER = "/usr/bin/docker"
# store: image in the builder's store; tarball: also a docker-archive file
# (uncompressed layers); oci: also a gzip OCI archive (not BuildKit 20.10's:
# its `docker build -o` has no oci type, so that mode compares with buildah).
MODES = ("store", "tarball", "oci")
TAG = "bench-out:latest"
PRIME_TAG = "bench-prime:latest"


class BenchError(RuntimeError):
    """A build or a setup step failed; the message carries the output tail."""


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    peak_rss_kib: int | None


@dataclass(frozen=True, slots=True)
class _Ran:
    seconds: float
    maxrss_kib: int


def _fail(argv: Sequence[str], code: int, output: bytes) -> BenchError:
    tail = "\n".join(output.decode(errors="replace").splitlines()[-30:])
    return BenchError(f"exit {code}: {' '.join(argv)}\n{tail}")


def run_measured(argv: Sequence[str], env: dict[str, str] | None = None) -> _Ran:
    """Run argv to completion; wall seconds and the tree's largest peak RSS (KiB)."""
    with subprocess.Popen(
        list(argv),
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        start = time.perf_counter()
        assert proc.stdout is not None
        output = proc.stdout.read()  # drains the pipe so the child never blocks
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise _fail(argv, proc.returncode, output)
    return _Ran(seconds, usage.ru_maxrss)


def run_quiet(argv: Sequence[str], env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run an unmeasured setup command; its stdout."""
    proc = subprocess.run(
        list(argv),
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise _fail(argv, proc.returncode, proc.stdout + proc.stderr)
    return proc.stdout.decode()


class Builder(Protocol):
    name: str

    def describe(self) -> str: ...
    def reset(self) -> None: ...
    def build(self, workload: Workload, mode: str, no_cache: bool) -> Sample: ...
    def prime(self, dockerfile: Path) -> None: ...
    def supports(self, mode: str) -> bool: ...


def _docker_style_argv(
    cmd: list[str], dockerfile: Path, tag: str, no_cache: bool, context: Path | None = None
) -> list[str]:
    """`docker build` and `buildah bud` take the same flags: host network, quiet."""
    argv = [*cmd, "--network=host", "-q", "-f", str(dockerfile), "-t", tag]
    return [*argv, *(["--no-cache"] if no_cache else []), str(context or dockerfile.parent)]


class Ocibuild:
    """ocibuild's CLI (`python -m ocibuild`) on a store that starts with the base only."""

    name = "ocibuild"

    def __init__(self, workdir: Path, base_tar: Path, base: str) -> None:
        self._root = workdir / "ocibuild-root"
        self._template = workdir / "ocibuild-template"
        self._out = workdir / "ocibuild-out.tar"
        self._cli = [sys.executable, "-m", "ocibuild"]
        # An installed package has its bytecode (pip compiles it); an editable
        # checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile
        # every module on every timed build.
        package = run_quiet([sys.executable, "-c", "import ocibuild; print(ocibuild.__path__[0])"])
        run_quiet([sys.executable, "-m", "compileall", "-q", package.strip()])
        run_quiet([*self._cli, "import", "--root", str(self._template), str(base_tar), base])
        self._prime_root = workdir / "ocibuild-prime"
        shutil.copytree(self._template, self._prime_root, symlinks=True)

    def describe(self) -> str:
        version = run_quiet([*self._cli, "--version"]).strip()
        return f"{version} ({_git_head()})"

    def reset(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)
        shutil.copytree(self._template, self._root, symlinks=True)

    def _build_argv(self, root: Path, dockerfile: Path, tag: str) -> list[str]:
        argv = [*self._cli, "build", "--root", str(root), "--progress", "quiet"]
        return [*argv, "-f", str(dockerfile), "-t", tag]

    def prime(self, dockerfile: Path) -> None:
        argv = self._build_argv(self._prime_root, dockerfile, PRIME_TAG)
        run_quiet([*argv, "--no-cache", str(dockerfile.parent)])

    def build(self, workload: Workload, mode: str, no_cache: bool) -> Sample:
        del no_cache  # reset() already left a store with the base only
        argv = self._build_argv(self._root, workload.dockerfile, TAG)
        if mode == "tarball":
            self._out.unlink(missing_ok=True)
            argv += ["-o", f"type=docker,dest={self._out}"]
        elif mode == "oci":
            self._out.unlink(missing_ok=True)
            argv += ["-o", f"type=oci,dest={self._out},compression=gzip"]
        ran = run_measured([*argv, str(workload.context)])
        return Sample(ran.seconds, ran.maxrss_kib)

    def supports(self, mode: str) -> bool:
        return mode in MODES


class Buildkit:
    """dockerd's BuildKit; the tarball mode adds `docker save`."""

    name = "buildkit"

    def __init__(self, workdir: Path, base_tar: Path, base: str) -> None:
        self._out = workdir / "docker-out.tar"
        self._env = {"DOCKER_BUILDKIT": "1"}
        run_quiet([DOCKER, "rmi", "-f", base], check=False)
        run_quiet([DOCKER, "import", str(base_tar), base])
        self._pid = int(Path("/var/run/docker.pid").read_text().strip())

    def describe(self) -> str:
        version = run_quiet([DOCKER, "version", "--format", "{{.Server.Version}}"]).strip()
        return f"BuildKit in dockerd {version}"

    def reset(self) -> None:
        run_quiet([DOCKER, "rmi", "-f", TAG], check=False)
        run_quiet([DOCKER, "builder", "prune", "-af"])

    def _status_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self._pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise BenchError(f"no {field} in /proc/{self._pid}/status")

    def _reset_hwm(self) -> bool:
        try:
            Path(f"/proc/{self._pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def prime(self, dockerfile: Path) -> None:
        run_quiet(_docker_style_argv([DOCKER, "build"], dockerfile, PRIME_TAG, True), self._env)

    def build(self, workload: Workload, mode: str, no_cache: bool) -> Sample:
        argv = _docker_style_argv(
            [DOCKER, "build"], workload.dockerfile, TAG, no_cache, workload.context
        )
        reset = self._reset_hwm()
        seconds = run_measured(argv, self._env).seconds
        if mode == "tarball":
            self._out.unlink(missing_ok=True)
            seconds += run_measured([DOCKER, "save", "-o", str(self._out), TAG]).seconds
        return Sample(seconds, self._status_kib("VmHWM") if reset else None)

    def supports(self, mode: str) -> bool:
        return mode in ("store", "tarball")


class Buildah:
    """buildah bud --layers on its own storage; the tarball mode adds `buildah push`."""

    name = "buildah"

    def __init__(self, workdir: Path, base: str) -> None:
        self._base = base
        self._archive = workdir / "base-docker.tar"
        self._out = workdir / "buildah-out.tar"
        store = workdir / "buildah"
        self._cmd = ["buildah", "--root", str(store / "root"), "--runroot", str(store / "run")]
        self._bud = [*self._cmd, "bud", "--layers", "--runtime=runc"]
        run_quiet([DOCKER, "save", "-o", str(self._archive), base])

    def describe(self) -> str:
        return run_quiet(["buildah", "--version"]).strip()

    def reset(self) -> None:
        run_quiet([*self._cmd, "rm", "--all"])
        run_quiet([*self._cmd, "rmi", "--all", "--force"])
        run_quiet([*self._cmd, "pull", "-q", f"docker-archive:{self._archive}"])

    def prime(self, dockerfile: Path) -> None:
        run_quiet(_docker_style_argv(self._bud, dockerfile, PRIME_TAG, True))

    def build(self, workload: Workload, mode: str, no_cache: bool) -> Sample:
        ran = run_measured(
            _docker_style_argv(self._bud, workload.dockerfile, TAG, no_cache, workload.context)
        )
        seconds, peak = ran.seconds, ran.maxrss_kib
        if mode in ("tarball", "oci"):
            self._out.unlink(missing_ok=True)
            dest = f"docker-archive:{self._out}"
            extra = []
            if mode == "oci":
                dest, extra = f"oci-archive:{self._out}", ["--compression-format", "gzip"]
            pushed = run_measured([*self._cmd, "push", "-q", *extra, TAG, dest])
            seconds, peak = seconds + pushed.seconds, max(peak, pushed.maxrss_kib)
        return Sample(seconds, peak)

    def supports(self, mode: str) -> bool:
        return mode in MODES

    def close(self) -> None:
        run_quiet([*self._cmd, "rm", "--all"])
        run_quiet([*self._cmd, "rmi", "--all", "--force"])


def _git_head() -> str:
    repo = Path(__file__).resolve().parent.parent
    try:
        head = run_quiet(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"]).strip()
        dirty = run_quiet(["git", "-C", str(repo), "status", "--porcelain", "--", "ocibuild"])
    except (BenchError, OSError):
        return "unknown commit"
    return f"commit {head}{'+dirty' if dirty.strip() else ''}"
