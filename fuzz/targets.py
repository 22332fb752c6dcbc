"""Coverage-guided fuzz targets (atheris) for ocibuild's untrusted-input code.

    python fuzz/targets.py TARGET [libFuzzer flags] [CORPUS_DIR...]   fuzz
    python fuzz/targets.py TARGET CRASH_FILE                          replay one input
    python fuzz/targets.py --list                                     the targets

Targets (one function each, bytes in):

``parser``
    Dockerfile bytes -> ``parse`` -> ``plan`` -> ``expand_instruction`` of
    every instruction.
``expand``
    ``process_word``/``process_words``/``process_heredoc`` on a word, with
    an environment taken from the input.
``ignore``
    .dockerignore patterns and paths -> ``excluded``/``could_include_under``,
    and, for patterns in fuzz/reference.py's language, the same answers as
    that independent matcher.
``layer``
    a layer blob (tar, gzip or zstd) -> ``decompressed`` -> ``apply_layer``
    into a scratch dir.
``add``
    an ADD source file -> ``is_archive`` -> ``extract_archive`` into an upper
    dir.

The rule for all of them: the only exceptions allowed out are ocibuild's
user errors (:class:`ocibuild.errors.UserError` and subclasses).  Anything
else is a bug: libFuzzer stops, prints the traceback and writes the input to
``crash-<sha1>`` (see ``-artifact_prefix``).  The archive targets also check,
after every input, that nothing outside the scratch dir changed.  Seeds live
in fuzz/corpus/TARGET/ (fuzz/make_corpus.py writes the generated ones).
Imported (rather than run) the module instruments nothing and needs no
atheris: tests/unit/test_fuzz_corpus.py replays the corpus through the
functions directly.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: import this checkout's ocibuild
    sys.path.insert(0, str(REPO))

try:
    import atheris
except ImportError:  # replaying the corpus needs no fuzzer
    atheris = None

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _instrumented() -> contextlib.AbstractContextManager[object]:
    """Coverage hooks on ocibuild and tarfile, when run as the fuzzer (not when imported)."""
    if atheris is None or __name__ != "__main__":
        return contextlib.nullcontext()
    hooks: contextlib.AbstractContextManager[object]
    hooks = atheris.instrument_imports(include=["ocibuild", "tarfile"])
    return hooks


with _instrumented():
    import tarfile  # noqa: F401 (imported here so that it is instrumented)

    from fuzz import reference
    from fuzz.tarfix import make_mutator
    from ocibuild.dockerfile import parse
    from ocibuild.dockerfile.expand import (
        expand_instruction,
        process_heredoc,
        process_word,
        process_words,
    )
    from ocibuild.dockerfile.ignore import IgnoreRules, clean_path
    from ocibuild.errors import StoreError, UserError
    from ocibuild.executor.add import extract_archive, is_archive
    from ocibuild.executor.upper import Upper
    from ocibuild.export.load import load_archive
    from ocibuild.layer.compress import decompressed
    from ocibuild.layer.extract import apply_layer
    from ocibuild.oci import Platform
    from ocibuild.plan import plan
    from ocibuild.snapshot import RootView
    from ocibuild.store import Store

__all__ = ["TARGETS", "add", "expand", "ignore", "layer", "load", "main", "parser"]

_ENV = {"A": "1", "B": "two words", "EMPTY": "", "P": "/usr/bin", "Q": "'\"$"}
_PLATFORM = Platform.parse("linux/amd64")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def parser(data: bytes) -> None:
    """Dockerfile bytes -> instructions -> stage graph -> expanded instructions."""
    try:
        dockerfile = parse(data)
        plan(dockerfile, build_args=_ENV, target_platform=_PLATFORM, build_platform=_PLATFORM)
        for instruction in dockerfile.instructions:
            expand_instruction(instruction, _ENV, dockerfile.escape)
    except UserError:
        pass


def expand(data: bytes) -> None:
    """``WORD \\0 NAME=VALUE \\0 ...``; the first byte picks the escape character."""
    escape = "`" if data[:1] == b"`" else "\\"
    word, *pairs = _text(data).split("\0")
    env = dict(_ENV)
    env.update(p.partition("=")[::2] for p in pairs)
    try:
        value = process_word(word, env, escape)
        words = process_words(word, env, escape)
        process_heredoc(word, env)
    except UserError:
        return
    assert all(words), words  # empty words are dropped
    if "$" not in word and "'" not in word and '"' not in word and escape not in word:
        assert value == word, (word, value)


def ignore(data: bytes) -> None:
    """``PATTERNS \\0 PATH \\n PATH ...``: ocibuild's answers, and the reference's."""
    patterns_text, _, paths_text = _text(data).partition("\0")
    try:
        rules = IgnoreRules.parse(patterns_text)
    except UserError:
        return
    lines = [n for n in map(reference.normalize, patterns_text.splitlines()) if n is not None]
    comparable = all(reference.in_language(p) for p in lines)
    for path in paths_text.split("\n"):
        got = rules.excluded(path)
        rules.could_include_under(path)
        cleaned = clean_path(path.lstrip("/"))
        assert rules.excluded(cleaned) == got, (path, cleaned)
        if comparable and cleaned != "." and not cleaned.startswith(".."):
            want = reference.excluded(lines, cleaned)
            assert got == want, (lines, cleaned, got, want)


def _outside_state(base: Path) -> list[tuple[str, int, int, int]]:
    """What is in ``base`` except ``dest``: names, modes, sizes, mtimes."""
    found = []
    for path in sorted(base.rglob("*")):
        if base / "dest" in (path, *path.parents):
            continue
        st = path.lstat()
        found.append((str(path), st.st_mode, st.st_size, st.st_mtime_ns))
    return found


@contextlib.contextmanager
def _scratch_dest() -> Iterator[Path]:
    """A fresh ``dest`` to unpack into, beside a watched ``outside``; all removed after.

    After the input, nothing but ``dest`` may have changed in the scratch dir
    (relative links and ``..`` names aim at ``outside``).
    """
    base = Path(tempfile.mkdtemp(prefix="ocibuild-fuzz-"))
    try:
        (base / "outside" / "dir").mkdir(parents=True)
        (base / "outside" / "secret").write_bytes(b"secret")
        before = _outside_state(base)
        (base / "dest").mkdir()
        yield base / "dest"
        _wipe(base / "dest")
        after = _outside_state(base)
        assert after == before, f"changed outside the destination: {after}"
    finally:
        if (base / "dest").exists():
            _wipe(base / "dest")
        shutil.rmtree(base)


def _wipe(path: Path) -> None:
    """Remove ``path`` even where the archive left directories without permissions."""
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            child = Path(root, name)
            if not child.is_symlink():
                child.chmod(0o700)
    shutil.rmtree(path)


def layer(data: bytes) -> None:
    """A layer blob (plain, gzip or zstd tar) unpacked by ``apply_layer``."""
    with _scratch_dest() as dest:
        try:
            with decompressed(io.BytesIO(data)) as stream:
                apply_layer(stream, dest, label="layer fuzz")
        except UserError:
            pass


def add(data: bytes) -> None:
    """An ADD source unpacked into ``/dest`` of an upper dir (if it is an archive)."""
    stream = io.BytesIO(data)
    if not is_archive(stream):
        return
    with _scratch_dest() as dest:
        (dest / "lower").mkdir()
        (dest / "upper").mkdir()
        upper = Upper(dest / "upper", RootView([dest / "lower"]))
        with contextlib.suppress(UserError):
            extract_archive(stream, upper, "/dest", None)


def load(data: bytes) -> None:
    """An archive for ``ocibuild load`` (OCI layout, Docker 25 or old docker-save;
    plain or compressed) into a fresh store: loaded, or refused with one error
    and no name tagged (nothing is tagged unless the whole archive is good)."""
    with _scratch_dest() as dest:
        store = Store(dest / "store")
        try:
            load_archive(store, io.BytesIO(data))
        except (UserError, StoreError):
            assert not store.refs(), f"a refused archive left names: {store.refs()}"


TARGETS: dict[str, Callable[[bytes], None]] = {
    "parser": parser,
    "expand": expand,
    "ignore": ignore,
    "layer": layer,
    "add": add,
    "load": load,
}
_ARCHIVE_TARGETS = frozenset({"layer", "add", "load"})


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in TARGETS:
        names = ", ".join(TARGETS)
        print(f"usage: {argv[0]} TARGET [libFuzzer args...]  (TARGET: {names})", file=sys.stderr)
        return 0 if argv[1:2] == ["--list"] else 2
    if atheris is None:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    name = argv[1]
    extra = {}
    if name in _ARCHIVE_TARGETS:
        # atheris.Mutate is rebound by Setup(): look it up at each call.
        extra["custom_mutator"] = make_mutator(lambda data, size: atheris.Mutate(data, size))
    atheris.Setup([argv[0], *argv[2:]], TARGETS[name], **extra)
    atheris.Fuzz()
    return 0  # not reached: Fuzz() exits the process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
