"""Hostile build contexts and archives: COPY/ADD that try to read or write outside.

Every try builds through the CLI on a fresh store with a fresh
:class:`~reliability.hostile_kit.Canary` on the host (a file with a random
token, an empty directory): the attack names them.  A try holds when the
build was refused with one line and exit 1 (or built, where Docker builds
too, with the in-image checks of its last RUN passing), no traceback, the
canary file unchanged and never hard-linked, the canary dir still empty, and
the token nowhere in the store (blobs, snapshots, cache).

Layers (``ocibuild load``, registry pulls), sizes and Dockerfiles are in
:mod:`reliability.trials_hostile_layers`.
"""

from __future__ import annotations

import tarfile
from typing import TYPE_CHECKING

from reliability.hostile_kit import Canary, Entry, judge, run_measured, tar_bytes
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from reliability.env import Env

__all__ = ["TRIALS", "attempt", "build_trial"]

CATEGORY = "hostile input"
SYM, LNK = tarfile.SYMTYPE, tarfile.LNKTYPE


def attempt(
    env: Env,
    setup: Callable[[Path, Canary], None],
    dockerfile: Callable[[Canary], str],
    *,
    built: bool | None,
) -> tuple[str | None, str]:
    """One try: a fresh store and canary, the build; (problem or None, what happened)."""
    canary = Canary.make()
    try:
        store = env.new_store("hostile")
        ctx = store.parent / "ctx"
        ctx.mkdir()
        setup(ctx, canary)
        (ctx / "Dockerfile").write_text(dockerfile(canary))
        outcome = run_measured(env, store, "build", "--progress=plain", str(ctx))
        problem = judge(outcome, canary, store, built=built)
    finally:
        canary.remove()
    if outcome.returncode == 0:
        return problem, "built, in-image checks passed; nothing read or written outside"
    return (
        problem,
        f"refused: {outcome.last_line.removeprefix('ocibuild: ')}; nothing outside touched",
    )


def build_trial(
    attack: str,
    setup: Callable[[Path, Canary], None],
    dockerfile: Callable[[Canary], str],
    *,
    built: bool | None,
    tries: int = 3,
) -> Trial:
    """A trial that repeats :func:`attempt`; the row tells the first failure, else the last try."""

    def run(env: Env, n: int) -> Result:
        held, failure, note = 0, "", ""
        for _ in range(n):
            problem, note = attempt(env, setup, dockerfile, built=built)
            if problem is None:
                held += 1
            elif not failure:
                failure = f"FAILED: {problem}"
        return Result(n, held, failure or note)

    return Trial(CATEGORY, attack, run, tries)


def _files(**content: bytes) -> Callable[[Path, Canary], None]:
    def setup(ctx: Path, canary: Canary) -> None:
        del canary
        for name, data in content.items():
            (ctx / name).write_bytes(data)

    return setup


def _links(**links: Callable[[Canary], str]) -> Callable[[Path, Canary], None]:
    """Context symlinks: name -> target (from the canary); plus sub/ holding one."""

    def setup(ctx: Path, canary: Canary) -> None:
        (ctx / "sub").mkdir()
        for name, target in links.items():
            (ctx / name.replace("__", "/")).symlink_to(target(canary))

    return setup


def _archive(entries: Callable[[Canary], list[Entry]]) -> Callable[[Path, Canary], None]:
    def setup(ctx: Path, canary: Canary) -> None:
        (ctx / "evil.tar").write_bytes(tar_bytes(entries(canary)))

    return setup


def _add(check: str = "true") -> Callable[[Canary], str]:
    return lambda c: f"FROM busybox:latest\nADD evil.tar /a/\nRUN {check.format(c=c)}\n"


def _copy(line: str, check: str = "true") -> Callable[[Canary], str]:
    return lambda c: f"FROM busybox:latest\n{line.format(c=c)}\nRUN {check.format(c=c)}\n"


def _up(c: Canary) -> str:
    return "../" * 12 + str(c.file).lstrip("/")


CONTEXT_TRIALS = [
    build_trial(
        "COPY ../../(...)/tmp/canary (climbs out of the context)",
        _files(),
        lambda c: f"FROM busybox:latest\nCOPY {_up(c)} /got\n",
        built=False,
    ),
    build_trial(
        "COPY /tmp/canary (absolute path of a host file)",
        _files(),
        _copy("COPY {c.file} /got"),
        built=False,
    ),
    build_trial(
        "COPY of a context symlink -> host file (absolute target)",
        _links(link=lambda c: str(c.file)),
        _copy("COPY link /got"),
        built=False,
    ),
    build_trial(
        "COPY of a context symlink -> host file (../../ target)",
        _links(link=_up),
        _copy("COPY link /got"),
        built=False,
    ),
    build_trial(
        "COPY dl/canary where context symlink dl -> the host dir holding it",
        _links(dl=lambda c: str(c.file.parent)),
        lambda c: f"FROM busybox:latest\nCOPY dl/{c.file.name} /got\n",
        built=False,
    ),
    build_trial(
        "COPY dl/ where context symlink dl -> a host dir (the dir is resolved inside)",
        _links(dl=lambda c: str(c.file.parent)),
        _copy("COPY dl/ /got/"),
        built=False,
    ),
    build_trial(
        "COPY of a dir holding a symlink -> host file: the link itself is copied",
        _links(sub__link=lambda c: str(c.file)),
        _copy("COPY sub /got/", 'test -L /got/link && test "$(readlink /got/link)" = {c.file}'),
        built=True,
    ),
    build_trial(
        "COPY into an image symlink -> host dir (dest resolved inside the rootfs)",
        _files(f=b"payload\n"),
        lambda c: (
            f"FROM busybox:latest\nRUN ln -s {c.empty} /target\nCOPY f /target/\n"
            f"RUN test -f {c.empty}/f\n"
        ),
        built=True,
    ),
]

ADD_TRIALS = [
    build_trial(
        "ADD tar with ../ entries aimed at a host dir (cleaned to inside, as BuildKit)",
        _archive(lambda c: [Entry("../" * 12 + str(c.empty).lstrip("/") + "/x", data=b"x")]),
        _add("test -f /a{c.empty}/x"),
        built=True,
    ),
    build_trial(
        "ADD tar with absolute entries (/tmp/canary-dir/x lands under dest)",
        _archive(lambda c: [Entry(f"{c.empty}/x", data=b"x")]),
        _add("test -f /a{c.empty}/x"),
        built=True,
    ),
    build_trial(
        "ADD tar: symlink -> host dir, then a file through it",
        _archive(lambda c: [Entry("d", SYM, link=str(c.empty)), Entry("d/x", data=b"x")]),
        _add(),
        built=None,
    ),
    build_trial(
        "ADD tar: relative symlink climbing out, then a file through it",
        _archive(
            lambda c: [
                Entry("d", SYM, link=_up(c)[: -len(c.file.name)] + c.empty.name),
                Entry("d/x", data=b"x"),
            ]
        ),
        _add(),
        built=None,
    ),
    build_trial(
        "ADD tar: hard links to an absolute and a ../ host file",
        _archive(lambda c: [Entry("h1", LNK, link=str(c.file)), Entry("h2", LNK, link=_up(c))]),
        _add(),
        built=False,
    ),
    build_trial(
        "ADD tar: symlink d -> /, then a hard link to d/tmp/canary",
        _archive(lambda c: [Entry("d", SYM, link="/"), Entry("h", LNK, link="d" + str(c.file))]),
        _add(),
        built=False,
    ),
    build_trial(
        "ADD tar: char, block and fifo nodes (made, as BuildKit does; RUN cannot open the disk)",
        _archive(
            lambda c: [
                Entry("c", tarfile.CHRTYPE, dev=(1, 3)),
                Entry("b", tarfile.BLKTYPE, dev=(254, 0)),
                Entry("f", tarfile.FIFOTYPE),
            ]
        ),
        _add("test -c /a/c && test -b /a/b && test -p /a/f && ! head -c 1 /a/b"),
        built=True,
    ),
    build_trial(
        "ADD tar: setuid/setgid root files (bits kept, as BuildKit does)",
        _archive(lambda c: [Entry("suid", data=b"#!/bin/sh\n", mode=0o6755)]),
        _add("test -u /a/suid && test -g /a/suid"),
        built=True,
    ),
]

TRIALS: list[Trial] = [*CONTEXT_TRIALS, *ADD_TRIALS]
