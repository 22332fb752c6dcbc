"""Hostile base-image layers (loaded and pulled), huge archives, hostile Dockerfiles.

Layers: a ``docker save`` archive of busybox's rootfs plus one crafted layer
is loaded with ``ocibuild load`` (or pushed to a throwaway local
docker-registry from one store and pulled into another), then built
``FROM`` with a RUN, so the layer is unpacked.  Sizes: each build is one
process whose wall time and peak RSS (``VmHWM``) must stay under the
bounds below.  Dockerfiles: a refusal must be ``Dockerfile:N: ...`` in one
line with exit 1.  The canary rules are those of :mod:`reliability.trials_hostile`.
"""

from __future__ import annotations

import contextlib
import re
import tarfile
from typing import TYPE_CHECKING

from reliability.hostile_kit import (
    Canary,
    Entry,
    Outcome,
    docker_archive,
    judge,
    run_measured,
    tar_bytes,
    zero_bomb,
)
from reliability.storecheck import registry
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from reliability.env import Env

__all__ = ["TRIALS"]

CATEGORY = "hostile input"
SYM, LNK, CHR, BLK, FIFO = (
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
    tarfile.FIFOTYPE,
)
#: Bounds for the size trials: wall seconds and peak RSS of the ocibuild process.
MAX_SECONDS, MAX_RSS_MIB = 180.0, 512.0

#: (what, entries of the crafted layer, RUN check, must build?)
Variant = tuple[str, "Callable[[Canary], list[Entry]]", str, "bool | None"]

VARIANTS: list[Variant] = [
    ("../ entry", lambda c: [Entry("../" * 8 + "x", data=b"x")], "true", False),
    ("absolute entry", lambda c: [Entry(f"{c.empty}/x", data=b"x")], "test -f {c.empty}/x", True),
    (
        "symlink -> host dir, then a file through it",
        lambda c: [Entry("d", SYM, link=str(c.empty)), Entry("d/x", data=b"x")],
        "true",
        False,
    ),
    (
        "hard link to a host file through a symlink d -> /",
        lambda c: [Entry("d", SYM, link="/"), Entry("h", LNK, link="d" + str(c.file))],
        "true",
        False,
    ),
    (
        "device nodes (RUN cannot read the host disk)",
        lambda c: [Entry("c", CHR, dev=(1, 3)), Entry("b", BLK, dev=(254, 0)), Entry("f", FIFO)],
        "test -b /b && ! head -c 1 /b",
        True,
    ),
    ("whiteout ../.wh.x", lambda c: [Entry("../.wh." + c.file.name)], "true", False),
    (
        "whiteouts under a symlink -> host dir (.wh.x, .wh..wh..opq)",
        lambda c: [Entry("d", SYM, link=str(c.file.parent)), Entry("d/.wh." + c.file.name)],
        "true",
        False,
    ),
    (
        "opaque marker under a symlink -> host dir",
        lambda c: [Entry("d", SYM, link=str(c.empty)), Entry("d/.wh..wh..opq")],
        "true",
        False,
    ),
]


def _crafted(env: Env, canary: Canary, entries: list[Entry], dest: Path) -> Path:
    """busybox's rootfs + the crafted layer, as a docker-save archive of ``evil:latest``."""
    return docker_archive(dest, "evil:latest", [env.busybox_tar.read_bytes(), tar_bytes(entries)])


def _from_evil(env: Env, store: Path, image: str, check: str) -> Outcome:
    ctx = store.parent / "ctx-from"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(f"FROM {image}\nRUN {check}\n")
    return run_measured(env, store, "build", "--progress=plain", str(ctx))


def _loaded_once(env: Env, variant: Variant, registry: str | None) -> str | None:
    what, entries, check, built = variant
    canary = Canary.make()
    try:
        store = env.scratch("layer") / "store"
        archive = _crafted(env, canary, entries(canary), store.parent / "evil.tar")
        loaded = run_measured(env, store, "load", "-i", str(archive))
        if loaded.returncode != 0:
            return f"{what}: load failed: {loaded.last_line}"
        image = "evil:latest"
        if registry is not None:
            store, image = _through_registry(env, store, registry)
        outcome = _from_evil(env, store, image, check.format(c=canary))
        problem = judge(outcome, canary, store, built=built)
    finally:
        canary.remove()
    return f"{what}: {problem}" if problem else None


def _through_registry(env: Env, store: Path, registry: str) -> tuple[Path, str]:
    """Push evil:latest from ``store`` and pull it into a new store."""
    image = f"{registry}/evil:latest"
    for args in (("tag", "evil:latest", image), ("push", image)):
        proc = env.ocibuild(store, *args)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip()}")
    fresh = env.scratch("pulled") / "store"
    proc = env.ocibuild(fresh, "pull", image)
    if proc.returncode != 0:
        raise RuntimeError(f"pull failed: {proc.stderr.strip()}")
    return fresh, image


def _layer_trial(attack: str, *, pulled: bool) -> Trial:
    def run(env: Env, tries: int) -> Result:
        held, failure = 0, ""
        with registry(env.scratch("registry")) if pulled else contextlib.nullcontext() as server:
            for _ in range(tries):
                problems = [p for v in VARIANTS if (p := _loaded_once(env, v, server))]
                held += not problems
                failure = failure or "; ".join(problems)
        refused = sum(v[3] is False for v in VARIANTS)
        note = (
            f"{len(VARIANTS)} layers each try: {refused} refused in one line "
            "(entry escapes / written through a symlink / hard link to missing), "
            "absolute names and device nodes kept inside; nothing outside touched"
        )
        return Result(tries, held, f"FAILED: {failure}" if failure else note)

    return Trial(CATEGORY, attack, run, 2)


def _size_trial(attack: str, make: Callable[[Env, Path], list[str]], tries: int = 1) -> Trial:
    """``make(env, store)`` prepares the input and returns the ocibuild args to time."""

    def run(env: Env, n: int) -> Result:
        held, notes = 0, []
        for _ in range(n):
            store = env.new_store("size")
            outcome = run_measured(env, store, *make(env, store), timeout=MAX_SECONDS * 2)
            problem = judge(outcome, None, None, built=None)
            if problem is None and outcome.seconds > MAX_SECONDS:
                problem = f"took {outcome.figures}"
            if problem is None and outcome.rss_mib > MAX_RSS_MIB:
                problem = f"used {outcome.figures}"
            held += problem is None
            refusal = outcome.last_line.removeprefix("ocibuild: ")
            verdict = "built" if outcome.returncode == 0 else f"refused: {refusal}"
            notes.append(problem or f"{verdict} ({outcome.figures})")
        return Result(n, held, "; ".join(dict.fromkeys(notes)))

    return Trial(CATEGORY, attack, run, tries)


def _add_context(store: Path, name: str, data: bytes, dest: str = "/a/") -> list[str]:
    ctx = store.parent / "ctx"
    ctx.mkdir()
    (ctx / name).write_bytes(data)
    (ctx / "Dockerfile").write_text(f"FROM busybox:latest\nADD {name} {dest}\nRUN true\n")
    return ["build", "--progress=plain", str(ctx)]


def _nested(levels: int) -> bytes:
    dirs = [Entry("a/" * i, tarfile.DIRTYPE, mode=0o755) for i in range(1, levels + 1)]
    return tar_bytes([*dirs, Entry("a/" * levels + "f", data=b"deep")])


def _many(count: int) -> bytes:
    return tar_bytes(Entry(f"d{i // 1000}/f{i}") for i in range(count))


def _load_and_build(env: Env, store: Path, layer: bytes) -> list[str]:
    archive = docker_archive(
        store.parent / "big.tar", "big:latest", [env.busybox_tar.read_bytes(), layer]
    )
    proc = env.ocibuild(store, "load", "-i", str(archive))
    if proc.returncode != 0:
        raise RuntimeError(f"load failed: {proc.stderr.strip()}")
    ctx = store.parent / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM big:latest\nRUN true\n")
    return ["build", "--progress=plain", str(ctx)]


SIZE_TRIALS = [
    _size_trial(
        "ADD tar nested 10,000 directories deep",
        lambda env, store: _add_context(store, "deep.tar", _nested(10_000)),
    ),
    _size_trial(
        "base layer nested 10,000 directories deep (load, FROM, RUN)",
        lambda env, store: _load_and_build(env, store, _nested(10_000)),
    ),
    _size_trial(
        "ADD gzip bomb: 1 MiB .tar.gz holding a 1 GiB file",
        lambda env, store: _add_context(store, "bomb.tar.gz", zero_bomb(1 << 30)),
    ),
    _size_trial(
        "base layer gzip bomb: 1 GiB file in a 1 MiB layer (load, FROM, RUN)",
        lambda env, store: _load_and_build(env, store, zero_bomb(1 << 30)),
    ),
    _size_trial(
        "ADD tar of 200,000 empty files",
        lambda env, store: _add_context(store, "many.tar", _many(200_000)),
    ),
]


def _dockerfile_trial(
    attack: str,
    text: Callable[[], bytes],
    *,
    built: bool,
    tries: int = 3,
    max_seconds: float = MAX_SECONDS,
) -> Trial:
    def run(env: Env, tries: int) -> Result:
        held, notes = 0, []
        for _ in range(tries):
            store = env.new_store("df")
            ctx = store.parent / "ctx"
            ctx.mkdir()
            (ctx / "Dockerfile").write_bytes(text())
            outcome = run_measured(env, store, "build", "--progress=plain", str(ctx))
            problem = judge(outcome, None, None, built=built)
            located = re.match(r"ocibuild: Dockerfile:\d+: ", outcome.last_line)
            if problem is None and outcome.returncode == 1 and not located:
                problem = f"error without Dockerfile:N: {outcome.last_line}"
            if problem is None and (outcome.seconds > max_seconds or outcome.rss_mib > MAX_RSS_MIB):
                problem = f"took {outcome.figures}"
            held += problem is None
            verdict = "built" if outcome.returncode == 0 else outcome.last_line[10:]
            notes.append(problem or f"{verdict} ({outcome.figures})")
        failures = [n for n in notes if not n.endswith(")")]
        return Result(tries, held, failures[0] if failures else notes[0])

    return Trial(CATEGORY, attack, run, tries)


def _lines(count: int, line: str, head: str = "FROM busybox:latest\n") -> bytes:
    return (head + line * count).encode()


DOCKERFILE_TRIALS = [
    _dockerfile_trial(
        "Dockerfile of 10 MB / 100,000 comment lines",
        lambda: _lines(100_000, "# " + "x" * 100 + "\n") + b"RUN true\n",
        built=True,
    ),
    _dockerfile_trial(  # linear since history grows as a Seq: about 5 s, was 41 s
        "Dockerfile of 100,000 ENV instructions",
        lambda: _lines(100_000, "ENV A=b\n"),
        built=True,
        max_seconds=30.0,
    ),
    _dockerfile_trial(
        "Dockerfile of 64 KiB random bytes", lambda: bytes(range(256)) * 256, built=False
    ),
    _dockerfile_trial(
        "Dockerfile with NUL bytes", lambda: b"FROM busybox:latest\n\0\0RUN true\n", built=False
    ),
    _dockerfile_trial(
        "Dockerfile with invalid UTF-8",
        lambda: b"FROM busybox:latest\nRUN echo \xff\xfe\n",
        built=False,
    ),
    _dockerfile_trial(
        "Dockerfile with an unterminated heredoc",
        lambda: b"FROM busybox:latest\nRUN <<EOF\necho hi\n",
        built=False,
    ),
    _dockerfile_trial(
        "Dockerfile with 10,000 line continuations",
        lambda: _lines(10_000, "a \\\n", "FROM busybox:latest\nRUN echo \\\n") + b"end\n",
        built=True,
    ),
    _dockerfile_trial(
        "Dockerfile with ${...} nested 10,000 deep",
        lambda: ("FROM busybox:latest\nENV X=" + "${a:-" * 10_000 + "x" + "}" * 10_000).encode(),
        built=False,
    ),
]

TRIALS: list[Trial] = [
    _layer_trial(
        "loaded base layers: ../, absolute, symlink write-through, hard links, "
        "devices, whiteouts aimed outside (8 crafted layers)",
        pulled=False,
    ),
    _layer_trial("pulled base layers (local registry), the same 8 crafted layers", pulled=True),
    *SIZE_TRIALS,
    *DOCKERFILE_TRIALS,
]
