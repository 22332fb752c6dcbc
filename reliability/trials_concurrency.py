"""Concurrency trials: several ocibuild processes on one store at once.

Each round starts from a fresh store holding busybox and runs, at the same
time: two builds of one Dockerfile (``a:1``, ``a:2``), a build of another
(``b:1``), and a loop of ``tag``, ``rmi``, ``prune`` and ``prune
--keep-storage 0`` (which drops every cache record and deletes every blob
nothing else needs, while the builds write theirs).  It held when every
command succeeded, every tag the round made and did not remove resolves, the
images have the IDs of builds made alone, ``ocibuild fsck`` calls the store
clean, and building both Dockerfiles again gives the same IDs.
"""

from __future__ import annotations

import random
import subprocess
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reliability import storecheck as sc
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from pathlib import Path

    from reliability.env import Env

__all__ = ["TRIALS"]

DOCKERFILE_A = """\
FROM busybox:latest
COPY a.bin /a.bin
RUN --mount=type=cache,target=/c sh -c 'cat /a.bin > /c/x && seq 1 3000 > /n'
"""
DOCKERFILE_B = """\
FROM busybox:latest
COPY b.bin /b.bin
RUN md5sum /b.bin > /sum
COPY --link b.bin /again.bin
"""


@dataclass
class _Round:
    """One round's store, contexts, expected IDs, and what went wrong."""

    env: Env
    root: Path
    ctx_a: Path
    ctx_b: Path
    expected: dict[str, str]
    failures: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


@dataclass(frozen=True, slots=True)
class _Setup:
    """The base store every round copies (one import: one busybox image ID), the
    two contexts, and the IDs their builds get on a store of their own."""

    template: Path
    ctx_a: Path
    ctx_b: Path
    expected: dict[str, str]


def _setup(env: Env) -> _Setup:
    base = env.scratch("concurrency")
    rng = random.Random(11)
    ctx_a = sc.context(base / "a", DOCKERFILE_A, {"a.bin": rng.randbytes(6 << 20)})
    ctx_b = sc.context(base / "b", DOCKERFILE_B, {"b.bin": rng.randbytes(6 << 20)})
    template = env.new_store("concurrency-base")
    alone = sc.copy_store(template, base / "alone")
    expected: dict[str, str] = {}
    for name, ctx in (("a", ctx_a), ("b", ctx_b)):
        image_id, err = sc.build(env, alone, ctx)
        if image_id is None:
            raise RuntimeError(f"building {name} alone: {err}")
        expected[name] = image_id
    return _Setup(template, ctx_a, ctx_b, expected)


def _build(rnd: _Round, ctx: Path, tag: str, want: str) -> None:
    image_id, err = sc.build(rnd.env, rnd.root, ctx, "-t", tag)
    if image_id is None:
        rnd.fail(f"build {tag}: {err}")
    elif image_id != rnd.expected[want]:
        rnd.fail(f"build {tag} gave {image_id}, alone {rnd.expected[want]}")
    else:
        with rnd.lock:
            rnd.tags.add(tag)


def _store_loop(rnd: _Round, done: threading.Event) -> None:
    """tag / rmi / prune until the builds are done (each at least once)."""
    step = 0
    while step < 4 or not done.is_set():
        commands = (
            ("tag", "busybox:latest", f"keep:{step}"),
            ("tag", "busybox:latest", f"gone:{step}"),
            ("rmi", f"gone:{step}"),
            ("prune", "--keep-storage", "0") if step % 2 else ("prune",),
        )
        for args in commands:
            proc = rnd.env.ocibuild(rnd.root, *args)
            if proc.returncode != 0:
                rnd.fail(f"{' '.join(args)}: {proc.stderr.strip()[-200:]}")
        with rnd.lock:
            rnd.tags.add(f"keep:{step}")
        step += 1


def _round(env: Env, setup: _Setup) -> str | None:
    root = sc.copy_store(setup.template, env.scratch("concurrency-round") / "store")
    rnd = _Round(env, root, setup.ctx_a, setup.ctx_b, setup.expected)
    ctx_a, ctx_b = setup.ctx_a, setup.ctx_b
    done = threading.Event()
    builds = [
        threading.Thread(target=_build, args=(rnd, ctx_a, "a:1", "a")),
        threading.Thread(target=_build, args=(rnd, ctx_a, "a:2", "a")),
        threading.Thread(target=_build, args=(rnd, ctx_b, "b:1", "b")),
    ]
    loop = threading.Thread(target=_store_loop, args=(rnd, done))
    for thread in (*builds, loop):
        thread.start()
    for thread in builds:
        thread.join()
    done.set()
    loop.join()
    _check_after(rnd)
    subprocess.run(["rm", "-rf", str(rnd.root.parent)], check=False)
    return "; ".join(rnd.failures[:2]) if rnd.failures else None


def _check_after(rnd: _Round) -> None:
    for tag in sorted(rnd.tags):
        proc = rnd.env.ocibuild(rnd.root, "inspect", tag)
        if proc.returncode != 0:
            rnd.fail(f"tag {tag} lost: {proc.stderr.strip()}")
    verdict = sc.fsck(rnd.env, rnd.root)
    if not verdict.clean:
        rnd.fail(f"fsck: {verdict}")
    for name, ctx in (("a", rnd.ctx_a), ("b", rnd.ctx_b)):
        image_id, err = sc.build(rnd.env, rnd.root, ctx)
        if image_id != rnd.expected[name]:
            rnd.fail(f"rebuild {name}: {image_id or err}")


def run(env: Env, tries: int) -> Result:
    setup = _setup(env)
    held, failures = 0, []
    for _ in range(tries):
        problem = _round(env, setup)
        if problem is None:
            held += 1
        else:
            failures.append(problem)
    if failures:
        return Result(tries, held, f"{len(failures)} rounds failed; first: {failures[0]}")
    return Result(
        tries,
        held,
        "every command succeeded, every tag resolved, images as when built alone, "
        "fsck clean, rebuilds gave the same IDs",
    )


TRIALS: list[Trial] = [
    Trial(
        "concurrency",
        "3 builds (2 identical) with a tag/rmi/prune/prune --keep-storage 0 loop on one store",
        run,
        6,
    ),
]
