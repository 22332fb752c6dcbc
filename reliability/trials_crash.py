"""Crash trials: ``kill -9`` ocibuild at a random moment of build, pull, push,
load, save and prune, then check the store.

Each try copies a prepared store, starts the command and SIGKILLs it after a
random delay in [0, its uninterrupted duration].  It held when, afterwards:

1. ``ocibuild fsck`` calls the store clean (a dead process's gc pin, temp
   dirs and temp files are allowed: fsck lists them as stale);
2. the interrupted command, run again, succeeds with the same result as an
   uninterrupted one (the pulled/pushed manifest digest, the loaded image
   ID, the saved archive's bytes);
3. a build (COPY of 24 MB, RUN with a cache mount, ``SOURCE_DATE_EPOCH=0``)
   gives the image ID of an uninterrupted build;
4. after ``ocibuild prune``, fsck lists nothing at all, not even stale.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reliability import storecheck as sc
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from reliability.env import Env

__all__ = ["TRIALS"]

DOCKERFILE = """\
FROM busybox:latest
COPY big.bin /data/big.bin
RUN --mount=type=cache,target=/cache sh -c \
 'cp /data/big.bin /cache/x && md5sum /data/big.bin > /sum && seq 1 2000 > /count'
"""
BIG = random.Random(7).randbytes(24 << 20)


@dataclass
class _World:
    """What every try of one trial starts from (made once per trial)."""

    env: Env
    base: Path
    template: Path  # busybox only
    built: Path  # busybox and app:1
    ctx: Path
    image_id: str
    archive: Path  # app:1 saved, docker format
    host: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def ok(self, root: Path, *args: str) -> str | None:
        """None when ``ocibuild ARGS`` succeeds, else its last error line."""
        proc = self.env.ocibuild(root, *args)
        if proc.returncode == 0:
            return None
        lines = proc.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {proc.returncode}"


def _world(env: Env, name: str) -> _World:
    base = env.scratch(f"crash-{name}")
    template = env.new_store(f"crash-{name}-template")
    ctx = sc.context(base / "ctx", DOCKERFILE, {"big.bin": BIG})
    built = sc.copy_store(template, base / "built")
    image_id, err = sc.build(env, built, ctx, "-t", "app:1")
    if image_id is None:
        raise RuntimeError(f"reference build failed: {err}")
    archive = base / "app.tar"
    proc = env.ocibuild(built, "save", "-o", str(archive), "app:1")
    if proc.returncode != 0:
        raise RuntimeError(f"save failed: {proc.stderr.strip()}")
    return _World(env, base, template, built, ctx, image_id, archive)


@dataclass(frozen=True, slots=True)
class _Op:
    """One command to kill: where it starts, its argv, and how to finish it."""

    name: str
    start: Callable[[_World, Path, int], tuple[Path, tuple[str, ...]]]
    finish: Callable[[_World, Path, int], str | None]


def _try(world: _World, op: _Op, index: int, delay: float) -> tuple[str | None, int]:
    """One kill and the checks after it: (what went wrong or None, stale count)."""
    env = world.env
    root, args = op.start(world, world.base / f"try-{index}", index)
    sc.kill_after(env, root, args, delay)
    verdict = sc.fsck(env, root)
    if not verdict.clean:
        return f"after kill at {delay:.2f} s fsck: {verdict}", verdict.stale
    problem = op.finish(world, root, index)
    if problem is not None:
        return f"after kill at {delay:.2f} s, {op.name} again: {problem}", verdict.stale
    image_id, err = sc.build(env, root, world.ctx)
    if image_id != world.image_id:
        return f"after kill at {delay:.2f} s, build gave {image_id or err}", verdict.stale
    pruned = world.ok(root, "prune")
    if pruned is not None:
        return f"prune: {pruned}", verdict.stale
    after = sc.fsck(env, root)
    if not after.clean or after.stale:
        return f"after prune fsck: {after} ({after.stale} stale)", verdict.stale
    return None, verdict.stale


def _trial(op: _Op, with_registry: bool = False) -> Callable[[Env, int], Result]:
    def run(env: Env, tries: int) -> Result:
        world = _world(env, op.name)
        if not with_registry:
            return _tries(world, op, tries)
        with sc.registry(world.base / "registry") as host:
            world.host = host
            _publish(world)
            return _tries(world, op, tries)

    return run


def _tries(world: _World, op: _Op, tries: int) -> Result:
    root, args = op.start(world, world.base / "timing", -1)
    duration = sc.timed(world.env, root, args)
    rng = random.Random(f"{op.name}-{tries}")
    held, stale, failures = 0, 0, []
    for index in range(tries):
        failure, seen = _try(world, op, index, rng.uniform(0, duration))
        stale += seen
        if failure is None:
            held += 1
        else:
            failures.append(failure)
        subprocess.run(["rm", "-rf", str(world.base / f"try-{index}")], check=False)
    if failures:
        return Result(tries, held, f"{len(failures)} failed; first: {failures[0]}")
    return Result(
        tries,
        held,
        f"killed at random in 0-{duration:.1f} s; fsck clean each time ({stale} stale "
        f"leftovers listed, none after prune); {op.name} again and the next build "
        "gave the uninterrupted result",
    )


# -- the operations ------------------------------------------------------------------


def _fresh(world: _World, dest: Path) -> Path:
    return sc.copy_store(world.template, dest)


def _start_build(world: _World, dest: Path, _: int) -> tuple[Path, tuple[str, ...]]:
    return _fresh(world, dest), ("build", "-q", "-t", "app:1", str(world.ctx))


def _finish_nothing(world: _World, root: Path, _: int) -> str | None:
    return None  # the build that follows is the check


def _start_load(world: _World, dest: Path, _: int) -> tuple[Path, tuple[str, ...]]:
    return _fresh(world, dest), ("load", "-i", str(world.archive))


def _finish_load(world: _World, root: Path, _: int) -> str | None:
    return world.ok(root, "load", "-i", str(world.archive)) or _same_id(world, root, "app:1")


def _same_id(world: _World, root: Path, name: str) -> str | None:
    proc = world.env.ocibuild(root, "images", "-q")
    ids = proc.stdout.split()
    short = world.image_id.removeprefix("sha256:")[:12]
    return None if short in ids else f"{name} missing after load (images: {ids})"


def _start_save(world: _World, dest: Path, _: int) -> tuple[Path, tuple[str, ...]]:
    root = sc.copy_store(world.built, dest / "store")
    return root, ("save", "-o", str(dest / "out.tar"), "app:1")


def _finish_save(world: _World, root: Path, _: int) -> str | None:
    out = root.parent / "out.tar"
    err = world.ok(root, "save", "-o", str(out), "app:1")
    if err is None and out.read_bytes() != world.archive.read_bytes():
        return "archive differs from the uninterrupted one"
    return err


def _start_prune(world: _World, dest: Path, _: int) -> tuple[Path, tuple[str, ...]]:
    root = sc.copy_store(world.built, dest)
    world.ok(root, "rmi", "app:1")
    return root, ("prune", "--keep-storage", "0")


def _finish_prune(world: _World, root: Path, _: int) -> str | None:
    return world.ok(root, "prune", "--keep-storage", "0")


def _publish(world: _World) -> None:
    """Put app:1 into the registry as src/app:1 (what pull fetches)."""
    name = f"{world.host}/src/app:1"
    err = world.ok(world.built, "tag", "app:1", name) or world.ok(world.built, "push", name)
    if err is not None:
        raise RuntimeError(f"publishing {name}: {err}")
    digest = sc.manifest_digest(world.host, "src/app", "1")
    world.extra["src"] = digest or ""


def _start_pull(world: _World, dest: Path, _: int) -> tuple[Path, tuple[str, ...]]:
    return _fresh(world, dest), ("pull", f"{world.host}/src/app:1")


def _finish_pull(world: _World, root: Path, _: int) -> str | None:
    proc = world.env.ocibuild(root, "pull", f"{world.host}/src/app:1")
    if proc.returncode != 0:
        return proc.stderr.strip()
    if f"Digest: {world.extra['src']}" not in proc.stdout:
        return f"pulled {proc.stdout.strip()}, registry has {world.extra['src']}"
    return None


def _push_name(world: _World, index: int) -> str:
    return f"{world.host}/dst{index + 1}/app:1"


def _start_push(world: _World, dest: Path, index: int) -> tuple[Path, tuple[str, ...]]:
    root = sc.copy_store(world.built, dest)
    world.ok(root, "tag", "app:1", _push_name(world, index))
    return root, ("push", _push_name(world, index))


def _finish_push(world: _World, root: Path, index: int) -> str | None:
    err = world.ok(root, "push", _push_name(world, index))
    if err is not None:
        return err
    remote = sc.manifest_digest(world.host, f"dst{index + 1}/app", "1")
    return None if remote == world.extra["src"] else f"registry has {remote}"


_BUILD = _Op("build", _start_build, _finish_nothing)
_OPS = (
    (_BUILD, False, 16),
    (_Op("pull", _start_pull, _finish_pull), True, 8),
    (_Op("push", _start_push, _finish_push), True, 8),
    (_Op("load", _start_load, _finish_load), False, 8),
    (_Op("save", _start_save, _finish_save), False, 6),
    (_Op("prune", _start_prune, _finish_prune), False, 8),
)

TRIALS: list[Trial] = [
    Trial("crash", f"kill -9 during {op.name}", _trial(op, reg), tries) for op, reg, tries in _OPS
]
