"""Typed Dockerfile instructions: the parser's output and the planner's input.

One frozen dataclass per instruction.  Values are kept *raw*: variables are not
yet substituted and quotes not yet removed, because what they expand to depends
on build args and the base image's environment, known only at build time
(``dockerfile.expand.expand_instruction`` does that step).  Flags are already
split out and checked by name; their values are raw as well.

``span`` says where the instruction stands; ``original`` is its source text with
continuations joined (used for history ``created_by`` and messages).
"""

from __future__ import annotations

from ocibuild._record import field, record
from ocibuild.errors import SourceSpan  # noqa: TC001 (dataclass fields need it at run time)

__all__ = [
    "Add",
    "Arg",
    "ArgDecl",
    "Cmd",
    "Command",
    "Copy",
    "Dockerfile",
    "Entrypoint",
    "Env",
    "Expose",
    "From",
    "Healthcheck",
    "Heredoc",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "Onbuild",
    "Run",
    "Shell",
    "Stopsignal",
    "User",
    "Volume",
    "Workdir",
]


@record
class Heredoc:
    """A here-document attached to RUN, COPY or ADD.

    ``content`` is the body exactly as it will be used: lines joined with
    ``\\n`` and ending with ``\\n`` (as BuildKit keeps it); with ``<<-`` the
    leading tabs are already removed (``chomp``).  ``expand`` is False when the
    delimiter was quoted, so the body must not be variable-expanded.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False


@record
class Command:
    """The payload of RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD.

    Exec (JSON) form: ``args`` is the argv and ``shell_form`` is False.
    Shell form: ``args`` is one string, the command line as written
    (continuations joined), and ``shell_form`` is True: SHELL is prepended at
    build time.
    """

    args: tuple[str, ...]
    shell_form: bool


@record
class KeyValue:
    """One ``key=value`` of ENV or LABEL, raw (quotes and ``$`` kept)."""

    key: str
    value: str


@record
class ArgDecl:
    """One name of an ARG instruction; ``default`` is None when none is given."""

    name: str
    default: str | None = None


@record
class From:
    span: SourceSpan
    original: str
    image: str
    stage_name: str | None = None
    platform: str | None = None


@record
class Run:
    span: SourceSpan
    original: str
    command: Command
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()  # raw values of each --mount flag
    network: str | None = None
    security: str | None = None


@record
class Cmd:
    span: SourceSpan
    original: str
    command: Command


@record
class Entrypoint:
    span: SourceSpan
    original: str
    command: Command


@record
class Shell:
    span: SourceSpan
    original: str
    argv: tuple[str, ...]


@record
class Label:
    span: SourceSpan
    original: str
    pairs: tuple[KeyValue, ...]


@record
class Maintainer:
    span: SourceSpan
    original: str
    name: str


@record
class Expose:
    span: SourceSpan
    original: str
    ports: tuple[str, ...]


@record
class Env:
    span: SourceSpan
    original: str
    pairs: tuple[KeyValue, ...]


@record
class Arg:
    span: SourceSpan
    original: str
    args: tuple[ArgDecl, ...]


@record
class Copy:
    span: SourceSpan
    original: str
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    from_stage: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()


@record
class Add:
    span: SourceSpan
    original: str
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    checksum: str | None = None
    keep_git_dir: bool = False
    exclude: tuple[str, ...] = ()
    unpack: bool | None = None


@record
class Volume:
    span: SourceSpan
    original: str
    paths: tuple[str, ...]


@record
class User:
    span: SourceSpan
    original: str
    user: str


@record
class Workdir:
    span: SourceSpan
    original: str
    path: str


@record
class Onbuild:
    """ONBUILD <trigger>: ``expression`` is the trigger's source text, stored in
    the image config's OnBuild list and parsed again in the child build."""

    span: SourceSpan
    original: str
    expression: str


@record
class Stopsignal:
    span: SourceSpan
    original: str
    signal: str


@record
class Healthcheck:
    """HEALTHCHECK: ``test`` is Docker's form: ``("NONE",)``,
    ``("CMD", argv...)`` or ``("CMD-SHELL", command)``.  Durations are in
    nanoseconds (as the image config stores them); None means not given."""

    span: SourceSpan
    original: str
    test: tuple[str, ...]
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None


Instruction = (
    From
    | Run
    | Cmd
    | Entrypoint
    | Shell
    | Label
    | Maintainer
    | Expose
    | Env
    | Arg
    | Copy
    | Add
    | Volume
    | User
    | Workdir
    | Onbuild
    | Stopsignal
    | Healthcheck
)


@record
class Dockerfile:
    """A parsed Dockerfile: its parser directives and its instructions in order.

    ``escape`` is the escape character in force (``\\`` or `````), needed again
    when words are expanded.  ARGs before the first FROM are ordinary ``Arg``
    items at the front of ``instructions``; the planner scopes them.
    """

    path: str
    instructions: tuple[Instruction, ...]
    escape: str = "\\"
    directives: tuple[tuple[str, str], ...] = field(default=())
