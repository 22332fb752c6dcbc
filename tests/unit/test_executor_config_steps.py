"""ocibuild.executor.config_steps: config and history as Docker 20.10's BuildKit writes them."""

from __future__ import annotations

import pytest

from ocibuild.dockerfile import instructions as i
from ocibuild.errors import SourceSpan, UserError
from ocibuild.executor.config_steps import ConfigInstruction, apply_config_step, parse_ports
from ocibuild.executor.state import StageState, empty_config

SPAN = SourceSpan("Dockerfile", 1, 1)
NOW = "2024-01-01T00:00:00Z"


def _no_args(name: str, default: str | None) -> str | None:
    return default


def run(*instrs: ConfigInstruction, state: StageState | None = None) -> StageState:
    state = state or StageState(empty_config("linux", "amd64"))
    for instr in instrs:
        state = apply_config_step(state, instr, NOW, _no_args)
    return state


def created_by(state: StageState) -> list[str]:
    return [e.created_by for e in state.history]


def test_env_replaces_in_place_and_history() -> None:
    s = run(
        i.Env(SPAN, "", (i.KeyValue("A", "b"), i.KeyValue("C", "d e"))),
        i.Env(SPAN, "", (i.KeyValue("PATH", "/x"),)),
    )
    assert s.config.config.env == ("PATH=/x", "A=b", "C=d e")
    assert created_by(s) == ["ENV A=b C=d e", "ENV PATH=/x"]
    assert all(e.empty_layer and e.comment == "buildkit.dockerfile.v0" for e in s.history)
    assert s.config.created == NOW


def test_label_maintainer_user_stopsignal_shell_volume() -> None:
    s = run(
        i.Maintainer(SPAN, "", "me <me@x>"),
        i.Label(SPAN, "", (i.KeyValue("k", "v"), i.KeyValue("q r", "s t"))),
        i.User(SPAN, "", "foo:bar"),
        i.Stopsignal(SPAN, "", "SIGKILL"),
        i.Shell(SPAN, "", ("/bin/sh", "-xc")),
        i.Volume(SPAN, "", ("/v", "[/v2]")),
    )
    c = s.config.config
    assert s.config.author == "me <me@x>"
    assert c.labels == (("k", "v"), ("q r", "s t"))
    assert (c.user, c.stop_signal, c.shell) == ("foo:bar", "SIGKILL", ("/bin/sh", "-xc"))
    assert c.volumes == ("/v", "[/v2]")
    assert created_by(s) == [
        "MAINTAINER me <me@x>",
        "LABEL k=v q r=s t",
        "USER foo:bar",
        "STOPSIGNAL SIGKILL",
        "SHELL [/bin/sh -xc]",
        "VOLUME [/v [/v2]]",
    ]


def test_cmd_entrypoint_use_shell_and_args_escaped() -> None:
    s = run(
        i.Shell(SPAN, "", ("/bin/sh", "-xc")),
        i.Cmd(SPAN, "", i.Command(("x",), shell_form=False)),
        i.Entrypoint(SPAN, "", i.Command(("echo $A",), shell_form=True)),
    )
    c = s.config.config
    assert c.cmd == ("x",)
    assert c.entrypoint == ("/bin/sh", "-xc", "echo $A")
    assert c.args_escaped
    assert created_by(s)[1:] == ['CMD ["x"]', 'ENTRYPOINT ["/bin/sh" "-xc" "echo $A"]']


def test_entrypoint_resets_inherited_cmd() -> None:
    base = run(i.Cmd(SPAN, "", i.Command(("x",), shell_form=False)))
    child = StageState(base.config)  # a new stage: cmd_set is False
    s = run(i.Entrypoint(SPAN, "", i.Command(("e",), shell_form=False)), state=child)
    assert s.config.config.cmd == ()


def test_expose_history_is_go_map() -> None:
    s = run(i.Expose(SPAN, "", ("80", "443/udp")))
    assert s.config.config.exposed_ports == ("443/udp", "80/tcp")
    assert created_by(s) == ["EXPOSE map[443/udp:{} 80/tcp:{}]"]


def test_parse_ports_ranges_and_errors() -> None:
    assert parse_ports(("8000-8002/UDP",)) == ["8000/udp", "8001/udp", "8002/udp"]
    with pytest.raises(UserError):
        parse_ports(("abc",))


def test_arg_history_uses_defaults_and_scope_uses_resolver() -> None:
    state = StageState(empty_config("linux", "amd64"))
    instr = i.Arg(SPAN, "", (i.ArgDecl("A", "1"), i.ArgDecl("C")))
    s = apply_config_step(state, instr, NOW, lambda n, d: "9" if n == "A" else None)
    assert created_by(s) == ["ARG A=1 C"]
    assert s.args == (("A", "9"),)


def test_env_overrides_arg_in_expansion() -> None:
    s = run(i.Arg(SPAN, "", (i.ArgDecl("X", "arg"),)), i.Env(SPAN, "", (i.KeyValue("X", "env"),)))
    assert s.expansion_env["X"] == "env"


def test_onbuild_has_no_history() -> None:
    s = run(i.Onbuild(SPAN, "", "RUN echo hi"))
    assert s.config.config.on_build == ("RUN echo hi",)
    assert s.history == ()


def test_healthcheck() -> None:
    s = run(i.Healthcheck(SPAN, "", ("CMD-SHELL", "echo hi"), interval=5 * 10**9, retries=3))
    hc = s.config.config.healthcheck
    assert hc is not None and hc.interval == 5 * 10**9 and hc.retries == 3
    assert created_by(s) == ["""HEALTHCHECK &{["CMD-SHELL" "echo hi"] "5s" "0s" "0s" '\\x03'}"""]


def test_entrypoint_alone_does_not_set_args_escaped() -> None:
    s = run(i.Entrypoint(SPAN, "", i.Command(("a",), shell_form=False)))
    assert not s.config.config.args_escaped


@pytest.mark.parametrize("ok", ["SIGKILL", "kill", "9", "SIGRTMIN"])
def test_stopsignal_accepts_docker_forms(ok: str) -> None:
    assert run(i.Stopsignal(SPAN, "", ok)).config.config.stop_signal == ok


@pytest.mark.parametrize("bad", ["FOO", "0", ""])
def test_stopsignal_rejects_unknown(bad: str) -> None:
    with pytest.raises(UserError, match="Invalid signal"):
        run(i.Stopsignal(SPAN, "", bad))
