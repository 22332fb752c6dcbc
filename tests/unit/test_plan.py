"""Tests for ocibuild.plan: stages, ARG scoping, stage references, targets."""

from __future__ import annotations

import pytest

import ocibuild.plan
from ocibuild.dockerfile.instructions import (
    Arg,
    ArgDecl,
    Command,
    Copy,
    Dockerfile,
    Env,
    From,
    Instruction,
    KeyValue,
    Run,
)
from ocibuild.errors import DockerfileError, SourceSpan
from ocibuild.oci import Platform
from ocibuild.plan import PROXY_ARGS, BuildGraph, mount_from, plan, predefined_args

AMD64 = Platform("linux", "amd64")
ARM = Platform("linux", "arm", "v7")


def span(line: int) -> SourceSpan:
    return SourceSpan("Dockerfile", line, line)


def df(*instructions: Instruction) -> Dockerfile:
    return Dockerfile("Dockerfile", tuple(instructions))


def frm(image: str, name: str | None = None, platform: str | None = None, line: int = 1) -> From:
    return From(span(line), f"FROM {image}", image, name, platform)


def arg(*decls: tuple[str, str | None], line: int = 1) -> Arg:
    return Arg(span(line), "ARG", tuple(ArgDecl(n, d) for n, d in decls))


def copy_from(ref: str, line: int = 5) -> Copy:
    return Copy(span(line), "COPY", ("/a",), "/b", from_stage=ref)


def run(*mounts: str, line: int = 6) -> Run:
    return Run(span(line), "RUN x", Command(("x",), shell_form=True), mounts=mounts)


def build(dockerfile: Dockerfile, **kwargs: object) -> BuildGraph:
    return plan(dockerfile, build_platform=AMD64, **kwargs)  # type: ignore[arg-type]


def test_single_stage() -> None:
    env = Env(span(2), "ENV", (KeyValue("a", "b"),))
    graph = build(df(frm("busybox"), env))
    (stage,) = graph.stages
    assert (stage.index, stage.name, stage.base, stage.base_stage) == (0, None, "busybox", None)
    assert stage.instructions == (env,)
    assert stage.span == span(1)
    assert graph.target == 0
    assert graph.needed() == (0,)


def test_global_args_expand_from_lines() -> None:
    graph = build(df(arg(("TAG", "1.36")), arg(("IMG", "busybox:${TAG}")), frm("$IMG")))
    assert graph.stages[0].base == "busybox:1.36"
    assert ("IMG", "busybox:1.36") in graph.global_args


def test_build_args_override_global_defaults() -> None:
    graph = build(df(arg(("TAG", "1")), frm("img:$TAG")), build_args={"TAG": "2"})
    assert graph.stages[0].base == "img:2"
    assert graph.build_args == (("TAG", "2"),)


def test_undeclared_build_arg_is_not_usable_in_from() -> None:
    graph = build(df(frm("img:${TAG:-none}")), build_args={"TAG": "2"})
    assert graph.stages[0].base == "img:none"


def test_global_arg_without_default_is_unset() -> None:
    graph = build(df(arg(("TAG", None)), frm("img:${TAG-unset}")))
    assert graph.stages[0].base == "img:unset"


def test_predefined_args_in_global_scope() -> None:
    graph = build(df(frm("img-$TARGETARCH", platform="$BUILDPLATFORM")), target_platform=ARM)
    stage = graph.stages[0]
    assert stage.base == "img-arm"
    assert stage.platform == AMD64
    assert dict(graph.global_args)["TARGETPLATFORM"] == "linux/arm/v7"


def test_predefined_args_values() -> None:
    args = predefined_args(ARM, AMD64)
    assert args == {
        "TARGETPLATFORM": "linux/arm/v7",
        "TARGETOS": "linux",
        "TARGETARCH": "arm",
        "TARGETVARIANT": "v7",
        "BUILDPLATFORM": "linux/amd64",
        "BUILDOS": "linux",
        "BUILDARCH": "amd64",
        "BUILDVARIANT": "",
    }


def test_target_platform_defaults_to_build_platform() -> None:
    graph = build(df(frm("x")))
    assert graph.target_platform == AMD64
    assert dict(graph.global_args)["TARGETARCH"] == "amd64"


def test_bad_platform() -> None:
    with pytest.raises(DockerfileError, match="failed to parse platform") as info:
        build(df(frm("x", platform="not a platform", line=3)))
    assert info.value.span == span(3)


def test_resolve_arg_precedence() -> None:
    graph = build(df(arg(("G", "global"), ("H", None)), frm("x")), build_args={"B": "given"})
    assert graph.resolve_arg("B", "default") == "given"
    assert graph.resolve_arg("X", "default") == "default"
    assert graph.resolve_arg("G", None) == "global"
    assert graph.resolve_arg("G", "own") == "own"
    assert graph.resolve_arg("H", None) is None
    assert graph.resolve_arg("TARGETOS", None) == "linux"
    assert graph.resolve_arg("NOPE", None) is None


def test_proxy_env() -> None:
    graph = build(df(frm("x")), build_args={"HTTP_PROXY": "p", "no_proxy": "n", "OTHER": "o"})
    assert graph.proxy_env() == {"HTTP_PROXY": "p", "no_proxy": "n"}
    assert len(PROXY_ARGS) == 10


def test_stages_and_from_stage() -> None:
    graph = build(df(frm("alpine", "Base"), frm("BASE", "app", line=3), frm("scratch", line=5)))
    assert [s.name for s in graph.stages] == ["base", "app", None]
    assert graph.stages[1].base_stage == 0
    assert graph.stages[1].deps == (0,)
    assert graph.stages[2].base_stage is None
    assert graph.target == 2
    assert graph.needed() == (2,)
    assert graph.find("APP") is graph.stages[1]
    assert graph.find("nope") is None


def test_copy_from_name_index_and_image() -> None:
    graph = build(
        df(
            frm("a", "one"),
            frm("b", "two", line=2),
            frm("c", line=3),
            copy_from("ONE"),
            copy_from("1"),
            copy_from("busybox:latest"),
        )
    )
    assert graph.stages[2].deps == (0, 1)
    assert graph.needed() == (0, 1, 2)


def test_run_mount_from() -> None:
    graph = build(
        df(
            frm("a", "src"),
            frm("b", line=2),
            run("type=bind,from=src,target=/s", "type=cache,target=/c", '"from=alpine",target=/x'),
        )
    )
    assert graph.stages[1].deps == (0,)
    assert mount_from("type=bind,FROM=x") == "x"
    assert mount_from("type=cache,target=/c") is None


def test_from_refs_expand_with_stage_args() -> None:
    dockerfile = df(
        arg(("SRC", "one")),
        frm("a", "one"),
        frm("b", "two", line=2),
        frm("c", line=3),
        arg(("SRC", None), line=4),
        copy_from("$SRC"),
        arg(("OTHER", "two"), line=6),
        run("from=${OTHER}"),
        copy_from("${UNDECLARED:-img}"),
    )
    assert build(dockerfile).stages[2].deps == (0, 1)
    assert build(dockerfile, build_args={"SRC": "two"}).stages[2].deps == (1,)


def test_global_arg_not_visible_in_stage_without_redeclaration() -> None:
    graph = build(df(arg(("SRC", "one")), frm("a", "one"), frm("c", line=3), copy_from("$SRC")))
    # "$SRC" expands to "" in the stage: not a stage, so no dependency
    assert graph.stages[1].deps == ()


def test_needed_only_target_ancestors() -> None:
    graph = build(
        df(
            frm("a", "base"),
            frm("base", "tool", line=2),
            frm("x", "unrelated", line=3),
            frm("base", "final", line=4),
            copy_from("tool"),
        ),
        target="final",
    )
    assert graph.target == 3
    assert graph.needed() == (0, 1, 3)
    assert build(df(frm("a", "x"), frm("b", "y", line=2)), target="X").needed() == (0,)


def test_unknown_target() -> None:
    with pytest.raises(DockerfileError, match='target stage "nope" could not be found'):
        build(df(frm("a", "x")), target="nope")


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (df(Env(span(1), "ENV", (KeyValue("a", "b"),)), frm("x", line=2)), "no build stage"),
        (df(), "no stages to build"),
        (df(arg(("A", "1"))), "no stages to build"),
        (df(frm("a", "x"), frm("b", "X", line=2)), 'duplicate stage name "X"'),
        (df(frm("a", "1abc")), "invalid name for build stage"),
        (df(frm("a", "a b")), "invalid name for build stage"),
        (df(frm("x", "self")), None),
        (df(frm("self", "self")), "circular dependency detected on stage: self"),
        (df(frm("a", "one"), copy_from("one")), "circular dependency"),
        (df(frm("a"), copy_from("0")), "invalid stage index 0"),
        (df(frm("a"), copy_from("5")), "invalid stage index 5"),
        (df(frm("a"), run("from=1")), "invalid stage index 1"),
    ],
)
def test_errors(dockerfile: Dockerfile, message: str | None) -> None:
    if message is None:
        build(dockerfile)
        return
    with pytest.raises(DockerfileError, match=message):
        build(dockerfile)


def test_errors_carry_span() -> None:
    with pytest.raises(DockerfileError) as info:
        build(df(frm("a"), copy_from("3", line=9)))
    assert info.value.span == span(9)
    with pytest.raises(DockerfileError) as info:
        build(df(frm("a", "x", line=1), frm("a", "x", line=4)))
    assert info.value.span == span(4)


@pytest.mark.parametrize(
    "dockerfile",
    [
        df(frm("later"), frm("a", "later", line=2)),
        df(frm("a"), copy_from("LATER"), frm("a", "later", line=7)),
        df(frm("a"), run("from=later"), frm("a", "later", line=7)),
    ],
)
def test_forward_reference_by_name_is_an_error(dockerfile: Dockerfile) -> None:
    with pytest.raises(DockerfileError, match="stage later is used before it is defined"):
        build(dockerfile)


def test_escape_is_kept() -> None:
    dockerfile = Dockerfile("Dockerfile", (arg(("A", "1")), frm("x:`$A")), escape="`")
    graph = build(dockerfile)
    assert graph.stages[0].base == "x:$A"
    assert graph.escape == "`"


def test_all_names() -> None:
    assert set(ocibuild.plan.__all__) <= set(vars(ocibuild.plan))
