"""Rootless builds: a non-root user builds the same image as root, or is told what is missing.

A throwaway user (tests/helpers/rootless.py) runs this tree's ocibuild with
its default store in its home; ocibuild enters a user namespace mapped with
newuidmap/newgidmap (ocibuild.rootless).  Root is needed only to create the
user.  The build uses RUN (overlay in the user namespace, an opaque
directory, a FIFO), COPY --chown and USER; with SOURCE_DATE_EPOCH it must
give the very image (config digest, so every diff_id) that root gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.images import load_image
from helpers.prereq import REPO, unavailable
from helpers.rootfs import normalise_layers
from helpers.rootless import SOURCE_DATE_EPOCH, RootlessUser, problem, rootless_user

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.root, pytest.mark.slow]

DOCKERFILE = """\
FROM busybox
RUN mkdir -p /opt/d && echo a > /opt/d/a && echo b > /opt/b && mkfifo /opt/fifo
RUN rm -rf /opt/d && mkdir /opt/d && echo c > /opt/d/c && rm /opt/b
RUN echo hello > /hello && mkdir -p /data && chown 1000:1000 /data
COPY --chown=1000:1000 f.txt /app/f.txt
USER 1000
RUN id -u > /tmp/who && touch /tmp/by-app
"""


@pytest.fixture(scope="module")
def user() -> Iterator[RootlessUser]:
    reason = problem()
    if reason is not None:
        unavailable(reason)
    with rootless_user() as made:
        yield made


@pytest.fixture(scope="module")
def context(user: RootlessUser, busybox_rootfs: Path) -> Path:
    """The build context and the busybox tarball, readable by the user."""
    ctx = user.home / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "f.txt").write_text("content\n")
    shutil.copy(busybox_rootfs, user.home / "busybox.tar")
    for path in (ctx, ctx / "Dockerfile", ctx / "f.txt", user.home / "busybox.tar"):
        shutil.chown(path, user.name, user.name)
    return ctx


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _root_build(tmp_path: Path, busybox: Path, ctx: Path) -> str:
    """Root's build of ``ctx`` (``busybox`` at the user's path: import records the path)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
    store = tmp_path / "root-store"
    digest = ""
    for args in (["import", str(busybox), "busybox:latest"], ["build", "-q", "-t", "t", str(ctx)]):
        proc = subprocess.run(
            [sys.executable, "-m", "ocibuild", *args, "--root", str(store)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        digest = _ok(proc)
    return digest


def test_rootless_build_gives_the_image_root_builds(
    user: RootlessUser, context: Path, tmp_path: Path
) -> None:
    _ok(user.ocibuild("import", str(user.home / "busybox.tar"), "busybox:latest"))
    rootless = _ok(user.ocibuild("build", "-q", "-t", "t", str(context)))
    assert rootless == _root_build(tmp_path, user.home / "busybox.tar", context)
    image = load_image(user.store, "t")
    entries = {e.path: e for e in normalise_layers(image.layers)}
    assert (entries["app/f.txt"].uid, entries["app/f.txt"].gid) == (1000, 1000)
    assert (entries["data"].uid, entries["tmp/by-app"].uid) == (1000, 1000)
    assert entries["opt/fifo"].kind == "fifo"
    assert "opt/d/a" not in entries and "opt/b" not in entries and "opt/d/c" in entries
    assert image.config["config"]["User"] == "1000"


def test_rootless_import_leaves_the_unpacking_to_the_namespace(
    user: RootlessUser, context: Path
) -> None:
    """Root's import unpacks the image; the user's cannot give files their owners
    outside the namespace, so its build unpacks them there instead."""
    store = user.home / "import-only"
    _ok(
        user.ocibuild(
            "import", str(user.home / "busybox.tar"), "busybox:latest", "--root", str(store)
        )
    )
    assert [p.name for p in (store / "ocibuild" / "snapshots").iterdir()] == []


def test_rootless_files_belong_to_the_user_and_its_subordinate_ids(
    user: RootlessUser, context: Path
) -> None:
    """Namespace root is the user on the host; namespace uid 1000 is subuid start + 999."""
    _ok(user.ocibuild("import", str(user.home / "busybox.tar"), "busybox:latest"))
    _ok(user.ocibuild("build", "-q", "-t", "t", str(context)))
    assert user.store.stat().st_uid == user.uid
    assert user.subuid_start is not None
    owners = {p.lstat().st_uid for p in (user.store / "ocibuild" / "snapshots").rglob("f.txt")}
    assert owners == {user.subuid_start + 999}


def test_rootless_prune_sweeps_what_only_the_namespace_can_remove(
    user: RootlessUser, context: Path
) -> None:
    """A killed build's scratch dir holds files of namespace uid 1000: the user
    cannot delete them on the host, ``ocibuild prune`` (in the namespace) does."""
    _ok(user.ocibuild("import", str(user.home / "busybox.tar"), "busybox:latest"))
    assert user.subuid_start is not None
    pidns = Path("/proc/self/ns/pid").stat().st_ino
    dead = user.store / "ocibuild" / "snapshots" / f"tmp-{pidns}-999999999-1-0badc0de"
    (dead / "upper" / "app").mkdir(parents=True)
    (dead / "upper" / "app" / "f.txt").write_text("x")
    for path in (dead, dead / "upper"):
        os.chown(path, user.uid, user.uid)
    for path in (dead / "upper" / "app", dead / "upper" / "app" / "f.txt"):
        os.chown(path, user.subuid_start + 999, user.subuid_start + 999)
    assert user.run(["rm", "-rf", str(dead)]).returncode != 0  # outside: not allowed
    _ok(user.ocibuild("prune"))
    assert not dead.exists()


def test_rootless_refuses_runc_with_one_line(user: RootlessUser, context: Path) -> None:
    _ok(user.ocibuild("import", str(user.home / "busybox.tar"), "busybox:latest"))
    proc = user.ocibuild("build", "--no-cache", "--runtime", "runc", "-q", str(context))
    assert proc.returncode == 1
    assert "--runtime runc is not supported in a rootless build" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_newuidmap_is_named(user: RootlessUser, context: Path, tmp_path: Path) -> None:
    empty = user.home / "empty-bin"
    empty.mkdir(exist_ok=True)
    proc = user.ocibuild("build", "-q", str(context), env={"PATH": str(empty)})
    assert proc.returncode == 1
    assert proc.stderr == (
        "ocibuild: rootless build: newuidmap and newgidmap not found on PATH "
        "(as root: apt-get install uidmap)\n"
    )


def test_missing_subuid_entry_is_named(busybox_rootfs: Path) -> None:
    reason = problem()
    if reason is not None:
        unavailable(reason)
    with rootless_user(subids=False) as bare:
        ctx = bare.home / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN true\n")
        proc = bare.ocibuild("build", str(ctx))
    assert proc.returncode == 1
    assert proc.stderr == (
        f"ocibuild: rootless build: no subordinate id range for user {bare.name} in /etc/subuid "
        "(as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "
        f"{bare.name})\n"
    )
