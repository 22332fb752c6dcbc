"""What a RUN step runs, as whom, with which environment: pure decisions.

Everything here is checked against Docker 20.10's BuildKit (see
docs/design/005-executor.md, "RUN"):

* :func:`run_command`: shell form is ``SHELL + [line]``, exec form the argv
  as written.  A heredoc RUN (newer BuildKit; 20.10 has none) follows
  BuildKit's dispatcher: a lone ``<<EOF`` runs its body as the shell's
  script, or, when the body starts with ``#!``, as an executable file
  mounted at ``/dev/pipes/NAME``; otherwise the bodies are appended to the
  line as here-documents for the shell to read.
* :func:`run_env`: the image ENV over the ARGs in scope, the build-arg
  proxies (both spellings), a default PATH and HOME.
* :func:`run_user`: ``user[:group]`` resolved like runc's libcontainer
  (``GetExecUser``): a numeric uid not in passwd gets gid 0 and HOME ``/``;
  supplementary groups are the groups listing the user, unless a group was
  given.
* :func:`run_created_by`: ``RUN |2 A=1 B= /bin/sh -c cmd # buildkit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.dockerfile.heredoc import parse_heredoc_word
from ocibuild.errors import UserError
from ocibuild.executor.history import plain_list
from ocibuild.executor.state import DEFAULT_PATH

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ocibuild.dockerfile.instructions import Run
    from ocibuild.executor.state import StageState
    from ocibuild.sandbox import User

__all__ = [
    "PROXY_ARGS",
    "SCRIPT_DIR",
    "RunCommand",
    "RunUser",
    "Script",
    "failure_message",
    "hosts_text",
    "run_command",
    "run_created_by",
    "run_env",
    "run_user",
]

SCRIPT_DIR = "/dev/pipes"
PROXY_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY")
"""Predefined build args BuildKit 20.10 passes to RUN (upper and lower case)."""


@record
class Script:
    """A heredoc with a shebang: written as ``SCRIPT_DIR/name`` (0755) and run."""

    name: str
    content: str


@record
class RunCommand:
    """The argv of a RUN, and the script file it needs mounted (if any)."""

    argv: tuple[str, ...]
    script: Script | None = None


@record
class RunUser:
    """The numeric identity of a RUN and the HOME it gets when ENV has none."""

    user: User
    home: str


def run_command(instr: Run, shell: tuple[str, ...]) -> RunCommand:
    """The argv BuildKit would run for ``instr`` under SHELL ``shell``."""
    args = instr.command.args
    if not instr.command.shell_form:
        return RunCommand(tuple(args))
    if not args:
        raise UserError("RUN requires at least one argument")
    line = args[0]
    script: Script | None = None
    if instr.heredocs:
        word = parse_heredoc_word(line) if len(instr.heredocs) == 1 else None
        doc = instr.heredocs[0]
        if word is not None and doc.content.startswith("#!"):
            script = Script(doc.name, doc.content)
            line = f"{SCRIPT_DIR}/{doc.name}"
        elif word is not None:
            line = doc.content
        else:
            line += "".join(f"\n{d.content}{d.name}" for d in instr.heredocs)
    return RunCommand((*shell, line), script)


def run_env(state: StageState, build_args: Mapping[str, str], home: str) -> tuple[str, ...]:
    """``KEY=value`` for the process: ARGs in scope, proxies, ENV, PATH, HOME."""
    env: dict[str, str] = dict(state.args)
    for name in PROXY_ARGS:
        value = next((v for k, v in build_args.items() if k.upper() == name), None)
        if value is not None:
            env.setdefault(name, value)
            env.setdefault(name.lower(), value)
    env.update(state.env)
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOME", home)
    return tuple(f"{key}={value}" for key, value in env.items())


def run_created_by(state: StageState, argv: tuple[str, ...]) -> str:
    """BuildKit's history text: ARGs in scope (``|N K=v``), then the argv, space-joined."""
    args = dict(state.args)
    env = state.env
    pairs = [f"{n}={env.get(n, args.get(n, ''))}" for n in state.arg_names]
    prefix = [f"|{len(pairs)}", *pairs] if pairs else []
    return "RUN " + " ".join([*prefix, *argv]) + " # buildkit"


def failure_message(argv: tuple[str, ...], code: int) -> str:
    """BuildKit 20.10's error for a non-zero exit."""
    return f"executor failed running {plain_list(argv)}: exit code: {code}"


def hosts_text(hostname: str) -> str:
    """The /etc/hosts BuildKit gives a RUN."""
    return f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def _rows(text: str | None, minimum: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        parts = line.strip().split(":")
        if len(parts) >= minimum and not line.lstrip().startswith("#"):
            rows.append(parts)
    return rows


def _number(word: str) -> int | None:
    return int(word) if word.isdigit() and int(word) < 2**32 else None


def _passwd_entry(word: str, passwd: str | None) -> tuple[str, int, int, str] | None:
    """(name, uid, gid, home) of the entry matching ``word`` as name or uid."""
    uid = _number(word)
    for parts in _rows(passwd, 6):
        if not (parts[2].isdigit() and parts[3].isdigit()):
            continue
        if parts[0] == word or (uid is not None and int(parts[2]) == uid):
            return parts[0], int(parts[2]), int(parts[3]), parts[5] or "/"
    return None


def _group_id(word: str, group: str | None) -> int:
    gid = _number(word)
    for parts in _rows(group, 3):
        if parts[2].isdigit() and (parts[0] == word or (gid is not None and int(parts[2]) == gid)):
            return int(parts[2])
    if gid is not None:
        return gid
    raise UserError(f"unable to find group {word}: no matching entries in group file")


def _member_of(name: str, group: str | None) -> tuple[int, ...]:
    gids = [int(p[2]) for p in _rows(group, 4) if p[2].isdigit() and name in p[3].split(",")]
    return tuple(dict.fromkeys(gids))


def run_user(spec: str, passwd: str | None, group: str | None) -> RunUser:
    """Resolve USER ``spec`` (``""`` is root) with the image's passwd/group text."""
    from ocibuild.sandbox import User  # only a RUN that runs needs the sandbox's types

    user_word, sep, group_word = (spec or "0").partition(":")
    if not user_word or (sep and not group_word):
        raise UserError(f"invalid user/group specification {spec!r}")
    entry = _passwd_entry(user_word, passwd)
    if entry is not None:
        name, uid, gid, home = entry
    elif (numeric := _number(user_word)) is not None:
        name, uid, gid, home = "", numeric, 0, "/"
    else:
        raise UserError(f"unable to find user {user_word}: no matching entries in passwd file")
    extra: tuple[int, ...] = ()
    if sep:
        gid = _group_id(group_word, group)
    elif name:
        extra = _member_of(name, group)
    return RunUser(User(uid, gid, extra), home)
