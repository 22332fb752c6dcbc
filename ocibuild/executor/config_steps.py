"""Handlers for the steps that change only the image config.

ENV LABEL MAINTAINER EXPOSE CMD ENTRYPOINT VOLUME USER ARG ONBUILD STOPSIGNAL
HEALTHCHECK SHELL: each takes the state and the *expanded* instruction and
returns a new state with the config changed and the history entry BuildKit
(Docker 20.10) writes, ``empty_layer: true``.  ONBUILD writes no history, as
BuildKit.  WORKDIR also creates its directory, so it lives in
:mod:`ocibuild.executor.workdir`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import assert_never

from ocibuild._record import record, replace
from ocibuild.dockerfile.instructions import (
    Arg,
    Cmd,
    Command,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    Stopsignal,
    User,
    Volume,
)
from ocibuild.errors import UserError
from ocibuild.executor import history as h
from ocibuild.executor.state import StageState, set_env, set_labels
from ocibuild.oci import Healthcheck as ConfigHealthcheck

__all__ = [
    "ConfigInstruction",
    "apply_config_step",
    "check_signal",
    "command_argv",
    "parse_ports",
]

ConfigInstruction = (
    Env
    | Label
    | Maintainer
    | Expose
    | Cmd
    | Entrypoint
    | Volume
    | User
    | Arg
    | Onbuild
    | Stopsignal
    | Healthcheck
    | Shell
)

_SIGNALS = frozenset(
    s.name.removeprefix("SIG") for s in signal.Signals if not s.name.startswith("SIG_")
) | {"IOT", "POLL", "CLD", "RTMIN", "RTMAX", "STKFLT", "UNUSED"}

ArgResolver = Callable[[str, str | None], str | None]
"""``(name, expanded default) -> value in scope`` (build args, global ARGs)."""


@record
class _Change:
    state: StageState
    created_by: str | None


def apply_config_step(
    state: StageState, instr: ConfigInstruction, created: str, resolve_arg: ArgResolver
) -> StageState:
    """Apply one expanded config-only instruction; ``created`` stamps its history."""
    change = _dispatch(state, instr, resolve_arg)
    if change.created_by is None:
        return change.state
    return change.state.with_history(created, change.created_by, empty_layer=True)


def _dispatch(state: StageState, instr: ConfigInstruction, resolve_arg: ArgResolver) -> _Change:
    match instr:
        case Env():
            return _env(state, instr)
        case Label():
            return _label(state, instr)
        case Maintainer():
            config = replace(state.config, author=instr.name)
            return _Change(replace(state, config=config), f"MAINTAINER {instr.name}")
        case Expose():
            return _expose(state, instr)
        case Cmd() | Entrypoint():
            return _command(state, instr)
        case Volume():
            return _volume(state, instr)
        case User():
            return _Change(state.with_config(user=instr.user), f"USER {instr.user}")
        case Arg():
            return _arg(state, instr, resolve_arg)
        case Onbuild():
            on_build = (*state.config.config.on_build, instr.expression)
            return _Change(state.with_config(on_build=on_build), None)
        case Stopsignal():
            check_signal(instr.signal)
            changed = state.with_config(stop_signal=instr.signal)
            return _Change(changed, f"STOPSIGNAL {instr.signal}")
        case Healthcheck():
            return _healthcheck(state, instr)
        case Shell():
            return _Change(state.with_config(shell=instr.argv), f"SHELL {h.plain_list(instr.argv)}")
        case _:
            assert_never(instr)


def check_signal(value: str) -> None:
    """Docker's ``signal.ParseSignal``: a number, or a name with or without ``SIG``."""
    if value.isdigit() and int(value) > 0:
        return
    name = value.upper().removeprefix("SIG")
    if name not in _SIGNALS:
        raise UserError(f"Invalid signal: {value}")


def _env(state: StageState, instr: Env) -> _Change:
    env = state.config.config.env
    for pair in instr.pairs:
        env = set_env(env, pair.key, pair.value)
    words = " ".join(f"{p.key}={p.value}" for p in instr.pairs)
    return _Change(state.with_config(env=env), f"ENV {words}")


def _label(state: StageState, instr: Label) -> _Change:
    labels = set_labels(state.config.config.labels, ((p.key, p.value) for p in instr.pairs))
    words = " ".join(f"{p.key}={p.value}" for p in instr.pairs)
    return _Change(state.with_config(labels=labels), f"LABEL {words}")


def _command(state: StageState, instr: Cmd | Entrypoint) -> _Change:
    argv = command_argv(instr.command, state.shell)
    keyword = "CMD" if isinstance(instr, Cmd) else "ENTRYPOINT"
    if isinstance(instr, Cmd):
        changed = replace(state.with_config(cmd=argv, args_escaped=True), cmd_set=True)
    else:
        cmd = state.config.config.cmd if state.cmd_set else ()
        changed = state.with_config(entrypoint=argv, cmd=cmd)
    return _Change(changed, f"{keyword} {h.exec_list(argv)}")


def command_argv(command: Command, shell: tuple[str, ...]) -> tuple[str, ...]:
    """The argv of a CMD/ENTRYPOINT/RUN: shell form gets SHELL prepended."""
    if command.shell_form:
        return (*shell, " ".join(command.args))
    return command.args


def _volume(state: StageState, instr: Volume) -> _Change:
    if any(not p for p in instr.paths):
        raise UserError("VOLUME specified can not be an empty string")
    volumes = tuple(sorted({*state.config.config.volumes, *instr.paths}))
    return _Change(state.with_config(volumes=volumes), f"VOLUME {h.plain_list(instr.paths)}")


def _expose(state: StageState, instr: Expose) -> _Change:
    ports = parse_ports(instr.ports)
    exposed = tuple(sorted({*state.config.config.exposed_ports, *ports}))
    return _Change(state.with_config(exposed_ports=exposed), f"EXPOSE {h.port_map(ports)}")


def parse_ports(specs: tuple[str, ...]) -> list[str]:
    """Docker's ``nat.ParsePortSpecs`` for EXPOSE: ``80`` -> ``80/tcp``, ranges expanded."""
    ports: list[str] = []
    for spec in specs:
        number, _, proto = spec.partition("/")
        proto = proto.lower() or "tcp"
        low, dash, high = number.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise UserError(f"invalid containerPort: {number}")
        last = int(high) if dash else int(low)
        if last < int(low) or last > 65535:
            raise UserError(f"invalid range specified for containerPort: {number}")
        ports.extend(f"{p}/{proto}" for p in range(int(low), last + 1))
    return ports


def _arg(state: StageState, instr: Arg, resolve_arg: ArgResolver) -> _Change:
    words = []
    for decl in instr.args:
        state = state.with_arg(decl.name, resolve_arg(decl.name, decl.default))
        words.append(decl.name if decl.default is None else f"{decl.name}={decl.default}")
    return _Change(state, "ARG " + " ".join(words))


def _healthcheck(state: StageState, instr: Healthcheck) -> _Change:
    check = ConfigHealthcheck(
        test=instr.test,
        interval=instr.interval or 0,
        timeout=instr.timeout or 0,
        start_period=instr.start_period or 0,
        start_interval=instr.start_interval or 0,
        retries=instr.retries or 0,
    )
    created_by = h.healthcheck_created_by(
        check.test, check.interval, check.timeout, check.start_period, check.retries
    )
    return _Change(state.with_config(healthcheck=check), created_by)
