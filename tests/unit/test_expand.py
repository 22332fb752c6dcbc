"""Tests for ocibuild.dockerfile.expand: BuildKit's shell-word processing."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocibuild._record import fields
from ocibuild.dockerfile import expand
from ocibuild.dockerfile.expand import (
    expand_instruction,
    process_heredoc,
    process_word,
    process_words,
)
from ocibuild.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    Command,
    Copy,
    Env,
    Expose,
    From,
    Heredoc,
    KeyValue,
    Label,
    Onbuild,
    Run,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from ocibuild.errors import DockerfileError, SourceSpan

ENV = {"a": "A", "e": "", "sp": "x  y", "p": "/usr/local/bin", "f": "file.tar.gz"}
SPAN = SourceSpan("Dockerfile", 3, 3)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "plain"),
        ("$a", "A"),
        ("${a}", "A"),
        ("${a}_x", "A_x"),
        ("$a_x", ""),
        ("$unset", ""),
        ("pre$a.post", "preA.post"),
        ("${u:-d}", "d"),
        ("${e:-d}", "d"),
        ("${a:-d}", "A"),
        ("${u-d}", "d"),
        ("${e-d}", ""),
        ("${a:+w}", "w"),
        ("${e:+w}", ""),
        ("${e+w}", "w"),
        ("${u+w}", ""),
        ("${u:-${a}}", "A"),
        ("${u:-${v:-deep}}", "deep"),
        ("${u:-a b}", "a b"),
        ('${a:+"q r"}', "q r"),
        ("${u:-'$a'}", "$a"),
        ("${a:?msg}", "A"),
        ("${e?msg}", ""),
        ("$", "$"),
        ("a$", "a$"),
        ("$ a", "$ a"),
        ("$/x", "$/x"),
        ("$1x", "x"),
        ("$$", ""),
        ('"$a b"', "A b"),
        ("'$a'", "$a"),
        ("'a\\b'", "a\\b"),
        ('"a\\b"', "a\\b"),
        ('"a\\"b"', 'a"b'),
        ('"a\\$a"', "a$a"),
        ('"a\\\\b"', "a\\b"),
        ('a"b\\"c"', 'ab"c'),
        ("\\$a", "$a"),
        ("\\${a}", "${a}"),
        ("a\\\\b", "a\\b"),
        ("a\\ b", "a b"),
        ("trailing\\", "trailing"),
        ("x$a\"y\"'z'\\ w", "xAyz w"),
        ('""', ""),
        ("${p#*/}", "usr/local/bin"),
        ("${p##*/}", "bin"),
        ("${p%/*}", "/usr/local"),
        ("${p%%/*}", ""),
        ("${f%.*}", "file.tar"),
        ("${f%%.*}", "file"),
        ("${f#*.}", "tar.gz"),
        ("${f##*.}", "gz"),
        ("${f#file?}", "tar.gz"),
        ("${f#nomatch}", "file.tar.gz"),
        ("${f%.gz}", "file.tar"),
        ("${u#x}", ""),
        ("${f:#file}", ".tar.gz"),
        ("${p/l/L}", "/usr/Local/bin"),
        ("${p//l/L}", "/usr/LocaL/bin"),
        ("${p//\\//_}", "_usr_local_bin"),
        ("${p/*/all}", "all"),
        ("${p//*/x}", "x"),
        ("${p/nomatch/x}", "/usr/local/bin"),
    ],
)
def test_process_word(word: str, expected: str) -> None:
    assert process_word(word, ENV) == expected


def test_replace_needs_second_slash() -> None:
    with pytest.raises(DockerfileError, match=r"missing '/' in \$\{\}"):
        process_word("${p/usr}", ENV)


def test_replace_all_with_empty_pattern_matches_go() -> None:
    # Go skips an empty match right after a match (Python's re.sub does not).
    assert process_word("${v///-}", {"v": "ab"}) == "-a-b-"
    assert process_word("${v//*/-}", {"v": "ab"}) == "-"
    assert process_word("${v//b*/-}", {"v": "abb"}) == "a-"


def test_replacement_dollar_zero_is_the_match() -> None:
    # BuildKit hands the raw replacement to Go's ReplaceAllString.
    assert process_word("${v/b/[\\$0]}", {"v": "abc"}) == "a[\\b]c"


def test_trim_suffix_keeps_escape_order() -> None:
    assert process_word("${v%\\*x}", {"v": "a*x"}) == "a"
    assert process_word("${v#\\?}", {"v": "?q"}) == "q"


def test_pattern_brackets_are_literal() -> None:
    assert process_word("${v#[a]}", {"v": "[a]b"}) == "b"
    assert process_word("${v#[a]}", {"v": "ab"}) == "ab"


def test_backtick_escape() -> None:
    assert process_word("`$a", ENV, escape="`") == "$a"
    assert process_word("a\\b", ENV, escape="`") == "a\\b"
    assert process_word('"x`"y"', ENV, escape="`") == 'x"y'


def test_multiline_values_are_kept() -> None:
    assert process_word("$m", {"m": "l1\nl2"}) == "l1\nl2"


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${u:?}", "u: is not allowed to be unset"),
        ("${u?}", "u: is not allowed to be unset"),
        ("${e:?}", "e: is not allowed to be empty"),
        ("${e:?boom}", "e: boom"),
        ("${u?custom message}", "u: custom message"),
        ("${a", "syntax error: missing '}'"),
        ("${", "syntax error: missing '}'"),
        ("${a:-x", "syntax error: missing '}'"),
        ("${a:", "syntax error: missing '}'"),
        ("${}", "bad substitution"),
        ("${:a}", "bad substitution"),
        ("${{a}", "bad substitution"),
        ("${a:x}", r"unsupported modifier \(:x\) in substitution"),
        ("${a!}", r"unsupported modifier \(!\) in substitution"),
        ("${a^^}", r"unsupported modifier \(\^\) in substitution"),
        ('"abc', "matching double-quote"),
        ("'abc", "matching single-quote"),
        ("${a:-'x}", "matching single-quote"),
        ("${p#\\x}", "invalid pattern"),
    ],
)
def test_errors(word: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message) as info:
        process_word(word, ENV)
    assert str(info.value).startswith("failed to process ")


def test_process_words_splits_unquoted_whitespace() -> None:
    assert process_words("a  b\tc", ENV) == ["a", "b", "c"]
    assert process_words("$sp 'q r' s\\ t", ENV) == ["x", "y", "q r", "s t"]
    assert process_words('"$sp"', ENV) == ["x  y"]
    assert process_words("'' x", ENV) == ["x"]
    assert process_words("", ENV) == []
    assert process_words("${u:-80 443}/tcp", ENV) == ["80", "443/tcp"]


def test_process_heredoc_keeps_quotes() -> None:
    body = "echo \"$a\" '$a' \\$a\n"
    assert process_heredoc(body, ENV) == "echo \"A\" 'A' $a\n"


def test_bad_escape_argument() -> None:
    with pytest.raises(ValueError, match="one character"):
        process_word("x", ENV, escape="")


def test_deep_nesting_is_a_dockerfile_error() -> None:
    word = "${u:-" * 200 + "}" * 200
    with pytest.raises(DockerfileError, match="nested too deeply"):
        process_word(word, ENV)


# --- expand_instruction -------------------------------------------------------


def test_expand_copy_fields() -> None:
    instr = Copy(
        SPAN,
        "COPY ...",
        sources=("$a.txt", "'$b'"),
        dest="/dst/${a}",
        heredocs=(Heredoc("EOF", "x=$a '$a'\n"), Heredoc("Q", "$a\n", expand=False)),
        from_stage="${u:-builder}",
        chown="${a}:1",
        chmod="0${u:-755}",
        exclude=("*.$a",),
    )
    out = expand_instruction(instr, ENV)
    assert isinstance(out, Copy)
    assert out.sources == ("A.txt", "$b")
    assert out.dest == "/dst/A"
    assert out.heredocs == (Heredoc("EOF", "x=A 'A'\n"), Heredoc("Q", "$a\n", expand=False))
    assert (out.from_stage, out.chown, out.chmod, out.exclude) == (
        "builder",
        "A:1",
        "0755",
        ("*.A",),
    )


def test_expand_add_fields() -> None:
    instr = Add(SPAN, "ADD", ("$a",), "$p", checksum="sha256:${a}", chown=None)
    out = expand_instruction(instr, ENV)
    assert out == Add(SPAN, "ADD", ("A",), "/usr/local/bin", checksum="sha256:A")


def test_expand_env_label_keys_and_values() -> None:
    env = Env(SPAN, "ENV", (KeyValue("k$a", "'v $a'"), KeyValue("x", "${u:-d}")))
    assert expand_instruction(env, ENV) == Env(
        SPAN, "ENV", (KeyValue("kA", "v $a"), KeyValue("x", "d"))
    )
    label = Label(SPAN, "LABEL", (KeyValue('"k$a"', '"v${a}"'),))
    assert expand_instruction(label, ENV) == Label(SPAN, "LABEL", (KeyValue("kA", "vA"),))


def test_expand_simple_instructions() -> None:
    assert expand_instruction(From(SPAN, "", "img:$a", "x", "linux/$a"), ENV) == From(
        SPAN, "", "img:A", "x", "linux/A"
    )
    assert expand_instruction(User(SPAN, "", "$a"), ENV) == User(SPAN, "", "A")
    assert expand_instruction(Workdir(SPAN, "", "$p/x"), ENV) == Workdir(
        SPAN, "", "/usr/local/bin/x"
    )
    assert expand_instruction(Stopsignal(SPAN, "", "SIG$a"), ENV) == Stopsignal(SPAN, "", "SIGA")
    assert expand_instruction(Volume(SPAN, "", ("/$a", "/b")), ENV) == Volume(
        SPAN, "", ("/A", "/b")
    )
    arg = Arg(SPAN, "", (ArgDecl("x", "$a"), ArgDecl("y")))
    assert expand_instruction(arg, ENV) == Arg(SPAN, "", (ArgDecl("x", "A"), ArgDecl("y")))


def test_expand_expose_splits_values() -> None:
    out = expand_instruction(Expose(SPAN, "", ("$ports", "22")), {"ports": "80 443/udp"})
    assert out == Expose(SPAN, "", ("80", "443/udp", "22"))


def test_expand_run_only_flags() -> None:
    run = Run(
        SPAN,
        "RUN echo $a",
        Command(("echo $a",), shell_form=True),
        mounts=("type=cache,target=/c/$a,id=${u:-x}", '"target=/a,b",type=bind'),
        network="${u:-none}",
    )
    out = expand_instruction(run, ENV)
    assert isinstance(out, Run)
    assert out.command == run.command
    assert out.mounts == ("type=cache,target=/c/A,id=x", '"target=/a,b",type=bind')
    assert out.network == "none"


@pytest.mark.parametrize(
    "instr",
    [
        Cmd(SPAN, "", Command(("echo $a",), shell_form=True)),
        Onbuild(SPAN, "", "RUN echo $a"),
    ],
)
def test_commands_are_not_expanded(instr: Cmd | Onbuild) -> None:
    assert expand_instruction(instr, ENV) is instr


def test_expand_error_carries_span() -> None:
    with pytest.raises(DockerfileError) as info:
        expand_instruction(User(SPAN, "", "${u:?}"), ENV)
    assert info.value.span == SPAN
    assert str(info.value).startswith("Dockerfile:3: failed to process")


def test_all_names() -> None:
    public = {n for n in vars(expand) if not n.startswith("_") and callable(vars(expand)[n])}
    assert set(expand.__all__) <= public
    assert {"process_word", "process_words", "expand_instruction"} <= set(expand.__all__)
    assert [f.name for f in fields(Copy)][:2] == ["span", "original"]


# --- properties ---------------------------------------------------------------

PLAIN = st.text(st.characters(exclude_characters="$'\"\\"))


@given(PLAIN)
def test_plain_words_are_unchanged(word: str) -> None:
    assert process_word(word, ENV) == word


@given(PLAIN)
def test_single_quoted_words_are_literal(word: str) -> None:
    assert process_word("'" + word.replace("'", "") + "'", ENV) == word.replace("'", "")


@given(st.text(alphabet=st.sampled_from("${}:-+?#%/\\'\"` abc*")))
def test_only_dockerfile_errors(text: str) -> None:
    for escape in ("\\", "`"):
        try:
            process_word(text, ENV, escape)
            process_words(text, ENV, escape)
        except DockerfileError:
            pass


@given(st.text())
def test_escaped_value_round_trips(value: str) -> None:
    escaped = "".join("\\" + ch for ch in value)
    assert process_word(escaped, ENV) == value


# --- against BuildKit ---------------------------------------------------------

DIFF_DOCKERFILE = r"""FROM scratch
ENV a=A e= sp="x  y" p=/usr/local/bin
ENV r1=$a r2=${a} r3=${u:-d} r4=${e:-d} r6=${a:+w} r8="$a b" r9='$a' r10=\$a
ENV r11=${u:-${a}} r12=$ r13=a$ r14=$1x r15=a"b\"c" r16="a\b" r17='a\b' r18=a\\b
ENV r19=${a:+"q r"} r20=x$a"y"'z'\ w
"""


@pytest.mark.docker
def test_against_buildkit() -> None:
    docker = "/usr/bin/docker"
    if shutil.which(docker) is None:
        pytest.skip("docker is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "Dockerfile").write_text(DIFF_DOCKERFILE)
        env = {"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"}
        build = subprocess.run(
            [docker, "build", "-q", "--network=host", "-t", "ocibuild-test-expand", tmp],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if build.returncode != 0:
            pytest.skip(f"docker build failed: {build.stderr[-200:]}")
    out = subprocess.run(
        [docker, "image", "inspect", "ocibuild-test-expand", "--format", "{{json .Config.Env}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    got = dict(item.split("=", 1) for item in json.loads(out.stdout))
    first = {"a": "A", "e": "", "sp": "x  y", "p": "/usr/local/bin"}
    lines = DIFF_DOCKERFILE.splitlines()[2:]
    pairs = [p for line in lines for p in _split_env_line(line.removeprefix("ENV "))]
    assert len(pairs) == 18
    for pair in pairs:
        key, _, raw = pair.partition("=")
        assert process_word(raw, first) == got[key], pair


def _split_env_line(line: str) -> list[str]:
    """Split an ENV line into raw key=value pairs (quotes and escapes kept)."""
    pairs: list[str] = []
    current, quote, i = "", "", 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and quote != "'" and i + 1 < len(line):
            current += line[i : i + 2]
            i += 2
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == " ":
            pairs.append(current)
            current = ""
            i += 1
            continue
        current += ch
        i += 1
    return [*pairs, current]
