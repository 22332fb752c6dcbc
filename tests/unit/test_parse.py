"""ocibuild.dockerfile.parse: each instruction, its forms and its flags."""

from __future__ import annotations

import pytest

import ocibuild.dockerfile
from ocibuild.dockerfile import parse
from ocibuild.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    Command,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from ocibuild.errors import SourceSpan


def one(line: str) -> Instruction:
    """Parse ``FROM scratch`` + ``line`` and return the second instruction."""
    return parse("FROM scratch\n" + line + "\n").instructions[1]


def test_public_names() -> None:
    assert set(ocibuild.dockerfile.__all__) == {"Dockerfile", "parse"}


def test_from_forms() -> None:
    df = parse("FROM busybox:1.36\nfrom --platform=linux/arm64 alpine As Build-1.x\n")
    first, second = df.instructions
    assert first == From(SourceSpan("Dockerfile", 1, 1), "FROM busybox:1.36", "busybox:1.36")
    assert isinstance(second, From)
    assert second.image == "alpine"
    assert second.stage_name == "build-1.x"
    assert second.platform == "linux/arm64"


def test_from_keeps_variables_raw() -> None:
    df = parse("ARG IMG=busybox\nFROM ${IMG:-x} AS base\n")
    assert df.instructions[0] == Arg(
        SourceSpan("Dockerfile", 1, 1), "ARG IMG=busybox", (ArgDecl("IMG", "busybox"),)
    )
    assert isinstance(df.instructions[1], From)
    assert df.instructions[1].image == "${IMG:-x}"


def test_run_shell_form_keeps_line_raw() -> None:
    run = one('RUN echo "$HOME"  &&  ls')
    assert isinstance(run, Run)
    assert run.command == Command(('echo "$HOME"  &&  ls',), shell_form=True)


def test_run_exec_form() -> None:
    run = one('RUN ["/bin/sh", "-c", "echo \\"hi\\""]')
    assert isinstance(run, Run)
    assert run.command == Command(("/bin/sh", "-c", 'echo "hi"'), shell_form=False)


@pytest.mark.parametrize(
    "text",
    ['RUN [ "a", ', "RUN [not json]", "RUN ['single']", "RUN [NaN]", 'RUN "a" ["b"]'],
)
def test_run_not_json_is_shell_form(text: str) -> None:
    run = one(text)
    assert isinstance(run, Run)
    assert run.command == Command((text[4:].strip(),), shell_form=True)


def test_exec_form_ignores_text_after_array() -> None:
    cmd = one('CMD ["a"] junk')
    assert isinstance(cmd, Cmd)
    assert cmd.command == Command(("a",), shell_form=False)


def test_run_flags() -> None:
    run = one(
        "RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=x "
        "--network=none --security=insecure make"
    )
    assert isinstance(run, Run)
    assert run.mounts == ("type=cache,target=/root/.cache", "type=secret,id=x")
    assert run.network == "none"
    assert run.security == "insecure"
    assert run.command == Command(("make",), shell_form=True)


def test_flag_quotes_are_removed() -> None:
    run = one('RUN --mount="type=bind,target=/a b" true')
    assert isinstance(run, Run)
    assert run.mounts == ("type=bind,target=/a b",)


def test_double_dash_ends_flags() -> None:
    run = one("RUN -- --not-a-flag")
    assert isinstance(run, Run)
    assert run.command.args == ("--not-a-flag",)


def test_empty_cmd_and_entrypoint_are_accepted() -> None:
    df = parse("FROM scratch\nCMD\nENTRYPOINT []\n")
    assert df.instructions[1] == Cmd(SourceSpan("Dockerfile", 2, 2), "CMD", Command((), True))
    entry = df.instructions[2]
    assert isinstance(entry, Entrypoint)
    assert entry.command == Command((), shell_form=False)


def test_label_pairs_keep_quotes() -> None:
    label = one('LABEL "com.example.vendor"="ACME Inc" version=1.0 desc="a b\\" c" e=')
    assert isinstance(label, Label)
    assert label.pairs == (
        KeyValue('"com.example.vendor"', '"ACME Inc"'),
        KeyValue("version", "1.0"),
        KeyValue("desc", '"a b\\" c"'),
        KeyValue("e", ""),
    )


def test_label_legacy_form() -> None:
    label = one("LABEL key some value")
    assert isinstance(label, Label)
    assert label.pairs == (KeyValue("key", "some value"),)


def test_env_forms() -> None:
    new = one('ENV A=1 B="two words" C=${A}\\ x')
    assert isinstance(new, Env)
    assert new.pairs == (
        KeyValue("A", "1"),
        KeyValue("B", '"two words"'),
        KeyValue("C", "${A}\\ x"),
    )
    legacy = one("ENV PATH /usr/bin:$PATH  more")
    assert isinstance(legacy, Env)
    assert legacy.pairs == (KeyValue("PATH", "/usr/bin:$PATH  more"),)


def test_env_single_quotes_do_not_escape() -> None:
    env = one("ENV A='x\\' B=y")
    assert isinstance(env, Env)
    assert env.pairs == (KeyValue("A", "'x\\'"), KeyValue("B", "y"))


def test_maintainer_user_workdir_stopsignal() -> None:
    df = parse(
        "FROM scratch\nMAINTAINER Jane <j@x>\nUSER app:app\nWORKDIR /a b\nSTOPSIGNAL SIGKILL\n"
    )
    maint, user, workdir, stop = df.instructions[1:]
    assert isinstance(maint, Maintainer) and maint.name == "Jane <j@x>"
    assert isinstance(user, User) and user.user == "app:app"
    assert isinstance(workdir, Workdir) and workdir.path == "/a b"
    assert isinstance(stop, Stopsignal) and stop.signal == "SIGKILL"


def test_expose_words() -> None:
    expose = one("EXPOSE 80/tcp  443 ${PORT}")
    assert isinstance(expose, Expose)
    assert expose.ports == ("80/tcp", "443", "${PORT}")


def test_volume_json_and_words() -> None:
    df = parse('FROM scratch\nVOLUME ["/a", " /b "]\nVOLUME /c /d\n')
    first, second = df.instructions[1:]
    assert isinstance(first, Volume) and first.paths == ("/a", "/b")
    assert isinstance(second, Volume) and second.paths == ("/c", "/d")


def test_arg_several_names() -> None:
    arg = one('ARG A B=2 C="x y" D=')
    assert isinstance(arg, Arg)
    assert arg.args == (ArgDecl("A"), ArgDecl("B", "2"), ArgDecl("C", '"x y"'), ArgDecl("D", ""))


def test_copy_flags_and_sources() -> None:
    copy = one(
        "COPY --from=build --chown=1:2 --chmod=0755 --link --parents "
        "--exclude=*.md --exclude=tmp a b/ /dest/"
    )
    assert isinstance(copy, Copy)
    assert copy.sources == ("a", "b/")
    assert copy.dest == "/dest/"
    assert (copy.from_stage, copy.chown, copy.chmod) == ("build", "1:2", "0755")
    assert copy.link and copy.parents
    assert copy.exclude == ("*.md", "tmp")


def test_copy_json_form_allows_spaces() -> None:
    copy = one('COPY ["a b", "/c d/"]')
    assert isinstance(copy, Copy)
    assert copy.sources == ("a b",)
    assert copy.dest == "/c d/"


def test_copy_shell_form_does_not_honour_quotes() -> None:
    copy = one('COPY "a b" /c')
    assert isinstance(copy, Copy)
    assert copy.sources == ('"a', 'b"')


def test_copy_bool_flag_values() -> None:
    copy = one("COPY --link=false --parents=TRUE a b")
    assert isinstance(copy, Copy)
    assert copy.link is False
    assert copy.parents is True


def test_add_flags() -> None:
    add = one(
        "ADD --chown=app --chmod=644 --link --checksum=sha256:abc --keep-git-dir "
        "--exclude=x --unpack=false https://example.com/a.tar /a"
    )
    assert isinstance(add, Add)
    assert (add.chown, add.chmod, add.checksum) == ("app", "644", "sha256:abc")
    assert add.link and add.keep_git_dir
    assert add.exclude == ("x",)
    assert add.unpack is False
    plain = one("ADD a b")
    assert isinstance(plain, Add) and plain.unpack is None


def test_cmd_entrypoint_forms() -> None:
    df = parse('FROM scratch\nCMD ["nginx", "-g", "daemon off;"]\nENTRYPOINT exec top -b\n')
    cmd, entry = df.instructions[1:]
    assert isinstance(cmd, Cmd)
    assert cmd.command == Command(("nginx", "-g", "daemon off;"), shell_form=False)
    assert isinstance(entry, Entrypoint)
    assert entry.command == Command(("exec top -b",), shell_form=True)


def test_shell_json() -> None:
    shell = one('SHELL ["powershell", "-command"]')
    assert shell == Shell(
        SourceSpan("Dockerfile", 2, 2),
        'SHELL ["powershell", "-command"]',
        ("powershell", "-command"),
    )


def test_onbuild_expression() -> None:
    onbuild = one("ONBUILD   RUN echo  hi")
    assert isinstance(onbuild, Onbuild)
    assert onbuild.expression == "RUN echo  hi"


def test_onbuild_unknown_trigger_is_left_to_the_child_build() -> None:
    onbuild = one("ONBUILD FOO bar")
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "FOO bar"


@pytest.mark.parametrize(
    ("line", "test"),
    [
        ("HEALTHCHECK NONE", ("NONE",)),
        ("HEALTHCHECK none", ("NONE",)),
        ("HEALTHCHECK CMD curl -f http://localhost/", ("CMD-SHELL", "curl -f http://localhost/")),
        ('HEALTHCHECK cmd ["curl", "-f", "x"]', ("CMD", "curl", "-f", "x")),
    ],
)
def test_healthcheck_tests(line: str, test: tuple[str, ...]) -> None:
    health = one(line)
    assert isinstance(health, Healthcheck)
    assert health.test == test


def test_healthcheck_durations_in_nanoseconds() -> None:
    health = one(
        "HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=2h "
        "--start-interval=500ms --retries=3 CMD true"
    )
    assert isinstance(health, Healthcheck)
    assert health.interval == 90 * 10**9
    assert health.timeout == 1_500_000_000
    assert health.start_period == 2 * 3600 * 10**9
    assert health.start_interval == 500 * 10**6
    assert health.retries == 3


def test_healthcheck_zero_and_empty_values() -> None:
    health = one("HEALTHCHECK --interval=0 --timeout= --retries=0 CMD true")
    assert isinstance(health, Healthcheck)
    assert health.interval == 0
    assert health.timeout is None
    assert health.retries == 0


def test_healthcheck_none_ignores_flags_like_buildkit() -> None:
    health = one("HEALTHCHECK --interval=5s NONE")
    assert isinstance(health, Healthcheck) and health.test == ("NONE",)
    assert health.interval is None


def test_heredoc_bodies_on_run() -> None:
    df = parse("FROM scratch\nRUN <<EOF\necho a\n  echo b\nEOF\nUSER x\n")
    run = df.instructions[1]
    assert isinstance(run, Run)
    assert run.command == Command(("<<EOF",), shell_form=True)
    assert run.heredocs == (Heredoc("EOF", "echo a\n  echo b\n"),)
    assert run.span == SourceSpan("Dockerfile", 2, 5)
    assert df.instructions[2].span == SourceSpan("Dockerfile", 6, 6)


def test_copy_heredoc_source() -> None:
    df = parse('FROM scratch\nCOPY --chmod=600 <<-"CONF" plain.txt /etc/app/\n\tkey=$v\n\tCONF\n')
    copy = df.instructions[1]
    assert isinstance(copy, Copy)
    assert copy.sources == ('<<-"CONF"', "plain.txt")
    assert copy.heredocs == (Heredoc("CONF", "key=$v\n", expand=False, chomp=True),)
    assert copy.chmod == "600"
