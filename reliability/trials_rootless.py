"""Rootless trials: the same Dockerfiles built by a non-root user, and each missing piece.

A throwaway user (tests/helpers/rootless.py: subordinate ids, this tree's
package copied where it can read it) builds every case of tests/cases/build
in its own store; root builds the same cases in another store.  With
SOURCE_DATE_EPOCH the two must give the same image ID (config digest, so
the same diff_ids).  Then each thing a rootless build needs is taken away
in turn (the subordinate id entry, newuidmap on PATH, newuidmap's setuid
bit) and the build must stop with one line naming it, leaving no image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from reliability.env import REPO, Env
from reliability.trial import Result, Trial

sys.path.insert(0, str(REPO / "tests"))  # the shared helpers of the test suite

from helpers.cases import BuildCase, all_cases
from helpers.rootless import SOURCE_DATE_EPOCH, RootlessUser, rootless_user

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["TRIALS"]


def _build_argv(case: BuildCase, ctx: Path, tag: str) -> list[str]:
    argv = ["build", "-q", "-t", tag, "-f", str(ctx.parent / "Dockerfile"), str(ctx)]
    for key, value in case.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if case.target:
        argv += ["--target", case.target]
    return argv


def _prepare(case: BuildCase, user: RootlessUser) -> tuple[Path, list[list[str]]]:
    """The case's context in the user's home, and the argv of each build (parent first)."""
    work = user.home / "cases" / case.name
    ctx = case.prepare_context(work / "context")
    shutil.copy(case.dockerfile_path(), work / "Dockerfile")
    builds = []
    if case.parent is not None:
        shutil.copy(case.dockerfile_path(case.parent.dockerfile), work / "Dockerfile.parent")
        parent = ["build", "-q", "-t", case.parent.tag, "-f", str(work / "Dockerfile.parent")]
        builds.append([*parent, str(ctx)])
    builds.append(_build_argv(case, ctx, case.tag("rootless")))
    shutil.chown(work.parent, user.name, user.name)  # never the store: it holds subuid owners
    subprocess.run(["chown", "-R", f"{user.name}:{user.name}", str(work)], check=True)
    return ctx, builds


def _as_root(store: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    env["OCIBUILD_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "ocibuild", *argv, "--root", str(store)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _import_base(env: Env, user: RootlessUser, root_store: Path) -> str:
    """busybox:latest in both stores, from one path (import records it in the history)."""
    tar = user.home / "busybox.tar"
    shutil.copy(env.busybox_tar, tar)
    shutil.chown(tar, user.name, user.name)
    rootless = user.ocibuild("import", str(tar), "busybox:latest")
    root = _as_root(root_store, ["import", str(tar), "busybox:latest"])
    if rootless.returncode or root.returncode:
        raise RuntimeError(f"import failed: {rootless.stderr.strip()} {root.stderr.strip()}")
    return tar.name


def _same_image(case: BuildCase, user: RootlessUser, root_store: Path) -> str | None:
    """None when the rootless build equals root's; else what differed."""
    _, builds = _prepare(case, user)
    results: list[str] = []
    for who in ("rootless", "root"):
        out = ""
        for argv in builds:
            proc = user.ocibuild(*argv) if who == "rootless" else _as_root(root_store, argv)
            if proc.returncode != 0:
                lines = proc.stderr.strip().splitlines() or ["?"]
                return f"{case.name}: {who} build failed: {lines[-1]}"
            out = proc.stdout.strip()
        results.append(out)
    return None if results[0] == results[1] else f"{case.name}: image IDs differ"


def _cases(env: Env, tries: int) -> Result:
    cases = all_cases()
    failures: list[str] = []
    total = 0
    with rootless_user() as user:
        root_store = env.scratch("rootless-root") / "store"
        _import_base(env, user, root_store)
        for _ in range(tries):
            for case in cases:
                shutil.rmtree(user.home / "cases" / case.name, ignore_errors=True)
                total += 1
                problem = _same_image(case, user, root_store)
                if problem is not None:
                    failures.append(problem)
    held = total - len(failures)
    if not failures:
        return Result(total, held, f"{held} builds: same image ID as root's build of the case")
    return Result(total, held, f"{len(failures)} differed: " + "; ".join(failures[:3]))


def _one_line(proc: subprocess.CompletedProcess[str], expected: str) -> str | None:
    """None when ocibuild stopped with exactly one line containing ``expected``."""
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 1 and len(lines) == 1 and expected in lines[0]:
        return None
    return f"exit {proc.returncode}: {proc.stderr.strip()[-200:]!r}"


def _refusal(
    expected: str, setup: Callable[[RootlessUser], dict[str, str]], *, subids: bool = True
) -> Callable[[Env, int], Result]:
    """A trial: build as a user missing one piece; it must refuse with ``expected``."""

    def run(env: Env, tries: int) -> Result:
        held, seen = 0, ""
        with rootless_user(subids=subids) as user:
            extra_env = setup(user)
            ctx = user.home / "ctx"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text("FROM busybox\nRUN true\n")
            shutil.chown(ctx, user.name, user.name)
            for _ in range(tries):
                proc = user.ocibuild("build", "-t", "x", str(ctx), env=extra_env)
                problem = _one_line(proc, expected)
                stored = (user.store / "index.json").exists()
                held += problem is None and not stored
                seen = problem or proc.stderr.strip()
        verdict = "refused" if held == tries else "NOT refused cleanly"
        return Result(tries, held, f"{verdict}: {seen}; no store written")

    return run


def _no_helpers(user: RootlessUser) -> dict[str, str]:
    empty = user.home / "bin"
    empty.mkdir()
    return {"PATH": str(empty)}


def _helpers_not_setuid(user: RootlessUser) -> dict[str, str]:
    """Copies of newuidmap/newgidmap without their setuid bit, first on PATH."""
    bin_dir = user.home / "bin"
    bin_dir.mkdir()
    for name in ("newuidmap", "newgidmap"):
        found = shutil.which(name, path="/usr/bin:/usr/sbin:/bin:/sbin")
        assert found is not None
        shutil.copy(found, bin_dir / name)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"}


def _runc(env: Env, tries: int) -> Result:
    held, seen = 0, ""
    with rootless_user() as user:
        _import_base(env, user, env.scratch("rootless-runc") / "store")
        ctx = user.home / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN true\n")
        shutil.chown(ctx, user.name, user.name)
        for _ in range(tries):
            proc = user.ocibuild("build", "--no-cache", "--runtime", "runc", str(ctx))
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            expected = "--runtime runc is not supported in a rootless build"
            ok = proc.returncode == 1 and expected in last and "Traceback" not in proc.stderr
            held += ok
            seen = last
    return Result(tries, held, f"refused: {seen}")


TRIALS = [
    Trial(
        "rootless",
        "every build case of tests/cases/build, built by a non-root user "
        "(user namespace via newuidmap/newgidmap) and by root",
        _cases,
        default_tries=1,
    ),
    Trial(
        "rootless",
        "build by a user with no /etc/subuid entry",
        _refusal("no subordinate id range for user", lambda user: {}, subids=False),
        default_tries=3,
    ),
    Trial(
        "rootless",
        "build with newuidmap/newgidmap missing from PATH",
        _refusal("newuidmap and newgidmap not found on PATH", _no_helpers),
        default_tries=3,
    ),
    Trial(
        "rootless",
        "build with newuidmap/newgidmap lacking their setuid bit",
        _refusal("rootless build: newuidmap failed:", _helpers_not_setuid),
        default_tries=3,
    ),
    Trial(
        "rootless",
        "rootless build asking for --runtime runc",
        _runc,
        default_tries=3,
    ),
]
