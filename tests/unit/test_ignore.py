"""Tests for ocibuild.dockerfile.ignore: .dockerignore with Docker's rules."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocibuild.dockerfile.ignore import IgnoreRules, clean_path
from ocibuild.errors import ContextError

SAMPLE = """\
# comment
  *.log
/build
!build/keep
**/tmp
docs/**/*.md
!docs/README.md
./x/../y
"""


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("a.log", True),
        ("d/a.log", False),  # * does not cross /
        ("build", True),
        ("build/x", True),  # under an excluded dir
        ("build/keep", False),
        ("build/keep/z", False),
        ("tmp", True),  # **/ matches zero dirs
        ("a/b/tmp", True),
        ("a/b/tmp/c", True),
        ("a/b/tmpx", False),
        ("docs/a/b.md", True),
        ("docs/x.md", True),
        ("docs/README.md", False),
        ("docs/a.txt", False),
        ("y", True),
        ("y/z", True),
        ("x", False),
        ("./a.log", True),
        ("/a.log", True),
        ("Dockerfile", False),
    ],
)
def test_sample(path: str, excluded: bool) -> None:
    assert IgnoreRules.parse(SAMPLE).excluded(path) is excluded


def test_comments_blank_lines_and_cleaning() -> None:
    rules = IgnoreRules.parse("\ufeff# c\n\n   \n /a/./b/ \n! c//d \n #not-a-comment\n")
    assert [p.text for p in rules.patterns] == ["a/b", "c/d", "#not-a-comment"]
    assert [p.exclusion for p in rules.patterns] == [False, True, False]


@pytest.mark.parametrize(
    ("pattern", "path", "matched"),
    [
        ("*", "a", True),
        ("*", "a/b", True),  # parent a matches
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[^a]x", "bx", True),
        ("\\*x?", "*xy", True),
        ("\\*x?", "axy", False),
        # patternmatcher compares wildcard-free patterns verbatim, escapes and all
        ("\\*x", "*x", False),
        ("\\*x", "\\*x", True),
        ("a.b", "a.b", True),
        ("a.b", "axb", False),
        ("a+b(c)", "a+b(c)", True),
        ("**", "anything/at/all", True),
        ("**/*.go", "main.go", True),
        ("**/*.go", "a/b/main.go", True),
        ("a/**", "a/b/c", True),
        ("a/**", "a", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/y/c", False),
        ("**/a/b", "x/a/b", True),
        ("**/a/b", "a/b", True),
        ("**/a/b", "a/b/c", True),
        ("..", "a", False),
        ("a/../b", "b", True),
        ("*/b", "a/b", True),
        ("*/b", "a/c/b", False),
        ("a", "ab", False),
        ("a", "a/b", True),
    ],
)
def test_patterns(pattern: str, path: str, matched: bool) -> None:
    assert IgnoreRules.parse(pattern).excluded(path) is matched


def test_last_match_wins() -> None:
    rules = IgnoreRules.parse("*.txt\n!keep.txt\nkeep.txt\n")
    assert rules.excluded("keep.txt")
    rules = IgnoreRules.parse("a\n!a\n")
    assert not rules.excluded("a/b")


def test_exception_inside_excluded_dir() -> None:
    rules = IgnoreRules.parse("dir\n!dir/sub/file\n")
    assert rules.excluded("dir/other")
    assert not rules.excluded("dir/sub/file")
    assert rules.excluded("dir/sub")


@pytest.mark.parametrize(
    ("text", "directory", "expected"),
    [
        ("dir\n!dir/sub/file\n", "dir", True),
        ("dir\n!dir/sub/file\n", "dir/sub", True),
        ("dir\n!dir/sub/file\n", "dir/other", False),
        ("dir\n!other/file\n", "dir", False),
        ("dir\n", "dir", False),
        ("dir\n!**/*.go\n", "dir", True),
        ("dir\n!d*/x\n", "dir", True),
        ("dir\n!e*/x\n", "dir", False),
        ("dir\n!dir\n", "dir/a/b", True),
    ],
)
def test_could_include_under(text: str, directory: str, expected: bool) -> None:
    assert IgnoreRules.parse(text).could_include_under(directory) is expected


@pytest.mark.parametrize("text", ["!", "a\\", "[a"])
def test_bad_patterns(text: str) -> None:
    with pytest.raises(ContextError):
        IgnoreRules.parse(text)


def test_empty_rules_exclude_nothing() -> None:
    assert not IgnoreRules().excluded("a")
    assert not IgnoreRules.parse("").could_include_under("a")


def test_for_dockerfile_prefers_named_file(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    dockerfile = tmp_path / "app.Dockerfile"
    assert IgnoreRules.for_dockerfile(ctx, dockerfile) == IgnoreRules()
    (ctx / ".dockerignore").write_text("from-context\n")
    assert IgnoreRules.for_dockerfile(ctx, dockerfile).excluded("from-context")
    assert IgnoreRules.for_dockerfile(ctx).excluded("from-context")
    Path(f"{dockerfile}.dockerignore").write_text("from-named\n")
    rules = IgnoreRules.for_dockerfile(ctx, dockerfile)
    assert rules.excluded("from-named")
    assert not rules.excluded("from-context")


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("", "."),
        (".", "."),
        ("./a", "a"),
        ("a//b/", "a/b"),
        ("a/../..", ".."),
        ("/../a", "/a"),
        ("//a", "/a"),
        ("a/./b/../c", "a/c"),
    ],
)
def test_clean_path(path: str, cleaned: str) -> None:
    assert clean_path(path) == cleaned


SEGMENT = st.sampled_from(["a", "b", "..", ".", "", "c.d"])


@given(st.lists(SEGMENT, max_size=6))
def test_clean_path_is_idempotent(parts: list[str]) -> None:
    once = clean_path("/".join(parts))
    assert clean_path(once) == once
    assert "//" not in once
    assert once in (".", "/") or not once.endswith("/")


@given(st.text(alphabet=st.sampled_from("ab*?/\\[]!.# \n")))
def test_parse_raises_only_context_errors(text: str) -> None:
    try:
        rules = IgnoreRules.parse(text)
    except ContextError:
        return
    rules.excluded("a/b")
    rules.could_include_under("a")


# --- against BuildKit ---------------------------------------------------------

DIFF_IGNORE = """\
*.log
!keep.log
build
!build/keep
**/tmp
docs/**/*.md
!docs/README.md
sub/*/deep
"""
DIFF_FILES = [
    "a.log",
    "keep.log",
    "d/a.log",
    "build/x",
    "build/keep/z",
    "tmp/f",
    "a/b/tmp/c",
    "a/b/tmpx",
    "docs/a/b.md",
    "docs/x.md",
    "docs/README.md",
    "docs/a.txt",
    "sub/1/deep/f",
    "sub/1/2/deep/f",
    "Dockerfile",
]


def _buildkit_files(ctx: Path) -> set[str]:
    docker = "/usr/bin/docker"
    tag = "ocibuild-test-ignore"
    build = subprocess.run(
        [docker, "build", "-q", "--network=host", "-t", tag, str(ctx)],
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.skip(f"docker build failed: {build.stderr[-200:]}")
    saved = subprocess.run([docker, "save", tag], capture_output=True, check=True).stdout
    files: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        manifest = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            blob = image.extractfile(layer)
            assert blob is not None
            with tarfile.open(fileobj=io.BytesIO(blob.read())) as tar:
                files |= {m.name for m in tar.getmembers() if m.isfile()}
    return files


@pytest.mark.docker
def test_against_buildkit() -> None:
    if shutil.which("/usr/bin/docker") is None:
        pytest.skip("docker is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        for name in DIFF_FILES:
            (ctx / name).parent.mkdir(parents=True, exist_ok=True)
            (ctx / name).write_text(name)
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
        (ctx / ".dockerignore").write_text(DIFF_IGNORE)
        got = _buildkit_files(ctx)
    rules = IgnoreRules.parse(DIFF_IGNORE)
    expected = {n for n in [*DIFF_FILES, ".dockerignore"] if not rules.excluded(n)}
    assert got == expected
