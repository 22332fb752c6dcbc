"""The ``ocibuild`` command: argv -> :mod:`ocibuild.api` -> exit status.

Owns argument parsing (docker build's flags and the store commands), the
presentation of results (tables, JSON) and the mapping of errors to text and
exit codes:

* :class:`~ocibuild.errors.UserError`: ``ocibuild: <one line>`` (plus its
  detail lines) on stderr, exit 1;
* :class:`~ocibuild.errors.StoreError`: one line, exit 1;
* a full disk (``OSError`` ENOSPC/EDQUOT) not named by the store: one line, exit 1;
* bad flags: argparse's usage message, exit 2;
* Ctrl-C: exit 130;
* anything else is a bug and keeps its traceback.

The work itself is done by :mod:`ocibuild.api` and :mod:`ocibuild.export`;
this module only translates.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ocibuild._cli_args import BuildArgs, parse_build_args
from ocibuild.errors import StoreError, UserError, is_out_of_space

if TYPE_CHECKING:
    from ocibuild import _cli_store
    from ocibuild.executor.options import BuildResult
    from ocibuild.progress import Event

__all__ = ["main", "parser", "run"]

PROG = "ocibuild"
Handler = Callable[[argparse.Namespace], "int | _cli_store.Outcome"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args_list = _root_after_command(list(sys.argv[1:] if argv is None else argv))
    if args_list and args_list[0] not in _COMMANDS and args_list[0] not in _TOP_FLAGS:
        args_list.insert(0, "build")
    parser = _parser(only=args_list[0] if args_list and args_list[0] in _COMMANDS else None)
    try:
        ns = parser.parse_args(args_list)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    handler: Handler | None = getattr(ns, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        return 2
    if args_list[0] in _ROOTLESS_COMMANDS and os.geteuid() != 0:
        return _run(_in_user_namespace(handler), ns)
    return _run(handler, ns)


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``ocibuild`` program: :func:`main`, then exit at once.

    By the time ``main`` returns, every command has closed what it opened
    (mounts, temp dirs, stage threads: all owned by ``with``/``ExitStack``).
    What a normal interpreter exit would still do is tear down ~120 modules
    and close the cache database, whose last close checkpoints its WAL with
    three fdatasyncs: about 10 ms of a one-file-edit rebuild's 85 ms.  The
    WAL left behind is SQLite's ordinary state; the next open uses it.  Only
    when a thread other than daemons is still alive, or standard output
    cannot be flushed (a closed pipe), does the exit go the normal way.
    """
    _leave(main(argv))


def _leave(status: int) -> NoReturn:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(status)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not _MAIN):
        sys.exit(status)
    os._exit(status)


_MAIN = threading.main_thread()


def _in_user_namespace(handler: Handler) -> Handler:
    """``handler`` run as root of a user namespace (a non-root user's build: see
    :mod:`ocibuild.rootless`); the store stays the caller's default one."""

    def run(ns: argparse.Namespace) -> int:
        from ocibuild import rootless
        from ocibuild.store import Store

        if _root(ns) is None:
            ns.root = str(Store.default_root())
        return rootless.run_as_root(lambda: _run(handler, ns))

    return run


class _Terminated(Exception):
    """SIGTERM arrived: unwind every mount, sandbox and temp dir as Ctrl-C does."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into an exception while a command runs (main thread only:
    Python's default for SIGTERM ends the process without running cleanups)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _root_after_command(args: list[str]) -> list[str]:
    """``ocibuild --root DIR images`` means ``ocibuild images --root DIR``: every
    command takes ``--root``, and it reads naturally before the command too."""
    if args[:1] == ["--root"] and len(args) >= 2:
        head, rest = args[:2], args[2:]
    elif args and args[0].startswith("--root="):
        head, rest = args[:1], args[1:]
    else:
        return args
    if rest and rest[0] in _COMMANDS:
        return [rest[0], *head, *rest[1:]]
    return ["build", *head, *rest]


def _run(handler: Handler, ns: argparse.Namespace) -> int:
    try:
        with _sigterm_unwinds():
            return _show(handler(ns))
    except _Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    except UserError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        detail = err.detail()
        if detail:
            print(detail, file=sys.stderr)
        return 1
    except StoreError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"{PROG}: store error: {first}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (``ocibuild images | head``): not an error.
        _silence_stdout()
        return 0
    except OSError as err:
        if not is_out_of_space(err):
            raise
        # A full disk where no store code named what it wrote (an output file):
        # the user's to fix, not a bug, so no traceback.
        where = f": {err.filename}" if err.filename else ""
        print(f"{PROG}: no space left on device{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _show(result: int | _cli_store.Outcome) -> int:
    if isinstance(result, int):
        return result
    for line in result.out:
        print(line)
    for line in result.err:
        print(line, file=sys.stderr)
    sys.stdout.flush()
    return result.status


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# --------------------------------------------------------------------------- build


def _cmd_build(ns: argparse.Namespace) -> int:
    from ocibuild.progress.render import rendering

    args: BuildArgs = parse_build_args(ns, os.environ)
    if args.print_graph is not None:
        print(_graph(args, ns))
        return 0
    with rendering(args.progress, sys.stderr) as on_event:
        result = _build(ns, args, on_event)
    if args.quiet:
        print(result.config.digest)
    else:
        print(f"{PROG}: built {result.config.digest}", file=sys.stderr)
        for tag in args.tags:
            print(f"{PROG}: tagged {tag}", file=sys.stderr)
    return 0


def _build(
    ns: argparse.Namespace, args: BuildArgs, on_event: Callable[[Event], None] | None
) -> BuildResult:
    """``api.build`` with the flags; progress (RUN output included) goes to ``on_event``."""
    from ocibuild import api
    from ocibuild.executor.mounts import SecretSource

    return api.build(
        args.context,
        args.dockerfile,
        **_planning(args, ns),
        tags=args.tags,
        outputs=args.outputs,
        labels=args.labels,
        iidfile=args.iidfile,
        metadata_file=args.metadata_file,
        compression=args.compression,
        output_stream=sys.stdout.buffer,
        progress=args.progress,
        runtime=args.runtime,
        on_event=on_event,
        secrets=[SecretSource(s.id, s.src, s.env) for s in args.secrets],
        cache_to=args.cache_to,
        cache_from=args.cache_from,
        jobs=args.jobs,
        push=args.push,
        insecure_registries=args.insecure_registries,
    )


def _graph(args: BuildArgs, ns: argparse.Namespace) -> str:
    from ocibuild import api

    return api.build_graph(
        args.context, args.dockerfile, style=args.print_graph or "dot", **_planning(args, ns)
    )


def _planning(args: BuildArgs, ns: argparse.Namespace) -> dict[str, Any]:
    """The flags that decide what is built: a build and ``--print graph`` plan with them alike."""
    return {
        "build_args": args.build_args,
        "target": args.target,
        "platform": args.platform,
        "root": _root(ns),
        "build_contexts": args.build_contexts,
        "no_cache": args.no_cache,
        "no_cache_filter": args.no_cache_filter,
        "pull": args.pull,
        "network": args.network,
        "dockerfile_text": args.dockerfile_text,
        "context_stream": sys.stdin.buffer if args.context == "-" else None,
    }


def _root(ns: argparse.Namespace) -> Path | None:
    value: str | None = ns.root or os.environ.get("OCIBUILD_ROOT") or None
    return Path(value) if value else None


# -------------------------------------------------------------------------- parser


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, that command's subparser alone is filled in.

    Making all sixteen costs ~12 ms of a cache-hit build (argparse looks up
    translations for every help string), for parsers a run never uses.
    """
    parser = _Parser(
        prog=PROG,
        description="Build OCI images from Dockerfiles, without a daemon.",
        epilog="With no command, the arguments are those of `ocibuild build`.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show program's version number and exit"
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    target: Any = sub if only is None else _OneCommand(sub, only)
    _add_build(target)
    parent = _common_parent()
    needed = _MODULE_ORDER if only is None else (_COMMAND_MODULES.get(only),)
    for module in _MODULE_ORDER:
        if module in needed:
            for add in importlib.import_module(f"ocibuild.{module}").PARSERS:
                add(target, parent)
    return parser


class _OneCommand:
    """Subparsers that make the parser of one command; the others' adders get a no-op."""

    def __init__(self, sub: argparse._SubParsersAction[_Parser], name: str) -> None:
        self._sub, self._name = sub, name

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name == self._name:
            return self._sub.add_parser(name, **kwargs)
        return _Unused()


class _Unused:
    """Takes any call and any attribute, and does nothing: a parser nobody will use."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __setattr__(self, name: str, value: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return self


def parser() -> argparse.ArgumentParser:
    """The whole command line's parser (``ocibuild completion`` reads it)."""
    return _parser()


class _VersionAction(argparse.Action):
    """``--version``, looked up only when given: ``importlib.metadata`` costs ~20 ms a run."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ocibuild")
    except PackageNotFoundError:
        return "unknown"


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, as wide as it would make itself ($COLUMNS, else
    the terminal, else 80 columns, less 2), found without ``shutil``: argparse
    makes a formatter on every ``add_argument`` (to check the metavar), and
    each imported ``shutil`` (with bz2 and lzma) and asked the terminal, 2 ms
    of every run."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = _help_width() if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


def _help_width() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that formats with :class:`_HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _common_parent() -> argparse.ArgumentParser:
    parent = _Parser(add_help=False)
    parent.add_argument(
        "--root",
        metavar="DIR",
        help="the store directory (default: $OCIBUILD_ROOT, /var/lib/ocibuild for root, "
        "else $XDG_DATA_HOME/ocibuild)",
    )
    return parent


def _add_build(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "build",
        parents=[_common_parent()],
        help="build an image from a Dockerfile",
        description="Build an image from a Dockerfile and a build context.",
    )
    p.set_defaults(handler=_cmd_build)
    add = p.add_argument
    add("context", metavar="PATH|-", help="the build context directory, or - for a tar on stdin")
    add("-f", "--file", metavar="FILE", help="the Dockerfile (default: PATH/Dockerfile; - = stdin)")
    add("-t", "--tag", action="append", default=[], metavar="NAME[:TAG]", help="name the image")
    add(
        "--build-arg",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="set a build argument (KEY alone: take the value from the environment)",
    )
    add("--target", metavar="STAGE", help="build this stage and stop")
    add("--no-cache", action="store_true", help="do not use the build cache")
    add(
        "--no-cache-filter",
        action="append",
        default=[],
        metavar="STAGE",
        help="do not use the build cache for this stage (repeatable)",
    )
    add("--pull", action="store_true", help="always fetch base images again")
    add("--push", action="store_true", help="push the image under every -t after the build")
    add(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="use plain HTTP for this registry (loopback ones use it unless in certs.d)",
    )
    add(
        "--jobs",
        type=int,
        metavar="N",
        help="build at most N independent stages at once (default: the CPU count)",
    )
    add(
        "--cache-to",
        action="append",
        default=[],
        metavar="type=local,dest=DIR[,mode=min|max]",
        help="export the build cache records the build used to DIR (an OCI layout)",
    )
    add(
        "--cache-from",
        action="append",
        default=[],
        metavar="type=local,src=DIR",
        help="import build cache records from DIR before building",
    )
    add("--platform", metavar="OS/ARCH[/VARIANT]", help="the target platform")
    add("--label", action="append", default=[], metavar="KEY=VALUE", help="add image metadata")
    add(
        "--secret",
        action="append",
        default=[],
        metavar="id=ID[,src=PATH|env=VAR]",
        help="a secret for RUN --mount=type=secret",
    )
    add("--network", metavar="MODE", help="network mode for RUN (default, none, host)")
    add(
        "--runtime",
        choices=("builtin", "runc", "crun"),
        default="builtin",
        help="how RUN steps are run (default: builtin, needs nothing installed)",
    )
    add(
        "--progress",
        choices=("auto", "tty", "plain", "quiet"),
        default="auto",
        help="how to show progress: tty (a live view), plain (BuildKit's lines), "
        "quiet (only the image ID), auto (tty on a terminal, else plain; the default)",
    )
    add(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="type=TYPE[,dest=PATH]",
        help="an output: type=oci|docker|local|registry, dest=PATH (DIR alone = local)",
    )
    add("--iidfile", metavar="FILE", help="write the image ID (config digest) to FILE")
    add("--metadata-file", metavar="FILE", help="write build result metadata (JSON) to FILE")
    add("-q", "--quiet", action="store_true", help="print only the image ID")
    add(
        "--print",
        metavar="graph[=dot|mermaid]",
        help="print the stage and step graph with cache hits marked, and build nothing",
    )
    add(
        "--build-context",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra named context (a directory, or docker-image://REF)",
    )
    add(
        "--compression",
        choices=("gzip", "zstd", "none"),
        default="gzip",
        help="layer compression in archive outputs (default: gzip)",
    )


# The module that adds each command's parser and handler, imported only when
# that command runs (or for the whole parser); tests/unit/test_cli.py checks
# the table against each module's COMMANDS.  Their order is --help's.
_MODULE_ORDER = ("_cli_store", "_cli_history", "_cli_registry", "_cli_completion", "_cli_fsck")
_COMMAND_MODULES = {
    **dict.fromkeys(("images", "tag", "rmi", "inspect", "load", "save", "import"), "_cli_store"),
    "prune": "_cli_store",
    "history": "_cli_history",
    **dict.fromkeys(("pull", "push", "login", "logout"), "_cli_registry"),
    "completion": "_cli_completion",
    "fsck": "_cli_fsck",
}
_COMMANDS = frozenset({"build", *_COMMAND_MODULES})
_TOP_FLAGS = frozenset({"-h", "--help", "--version"})
# Commands that chown, mount or remove files owned by an image's users: a
# non-root caller runs them in a user namespace (ocibuild.rootless).
_ROOTLESS_COMMANDS = frozenset({"build", "prune", "fsck"})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
