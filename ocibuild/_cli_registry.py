"""Registry commands: pull, push, login, logout.

Each ``_add_*`` registers one subcommand and its handler; handlers call
:mod:`ocibuild.registry` and return an :class:`~ocibuild._cli_store.Outcome`
with what ``docker`` prints.  Errors propagate to ``cli._run``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ocibuild._cli_store import Outcome, find_image, store_of, unpacked
from ocibuild.errors import UserError

if TYPE_CHECKING:
    import argparse
    import contextlib
    from collections.abc import Callable

    from ocibuild._cli_store import SubParsers
    from ocibuild.progress.events import Event

__all__ = ["COMMANDS", "PARSERS"]


def _cmd_pull(ns: argparse.Namespace) -> Outcome:
    from ocibuild.oci import Platform, Reference
    from ocibuild.registry import connect, pull

    store = store_of(ns)
    ref = Reference.parse(ns.name)
    client = connect(ref.domain, insecure=tuple(ns.insecure_registry))
    platform = Platform.parse(ns.platform) if ns.platform else None
    with _progress(ns) as on_event:
        result = pull(store, ref, client, platform, on_event=on_event)
    here = platform is None or platform.matches(Platform.host())
    err = unpacked(store, [result.top]) if here else ()
    if ns.quiet:
        return Outcome(out=(str(ref),), err=err)
    return Outcome(out=(f"Digest: {result.top.digest}", str(ref)), err=err)


def _cmd_push(ns: argparse.Namespace) -> Outcome:
    from ocibuild.oci import Reference
    from ocibuild.registry import connect, push_stored

    store = store_of(ns)
    ref = Reference.parse(ns.name)
    if ref.digest is not None:
        raise UserError(f"cannot push to a digest reference: {ns.name}")
    found = find_image(store, ns.name)
    client = connect(ref.domain, insecure=tuple(ns.insecure_registry))
    with _progress(ns) as on_event:
        result = push_stored(store, found, ref, client, on_event=on_event)
    desc = result.manifest
    return Outcome(out=(f"{ref.tag}: digest: {desc.digest} size: {desc.size}",))


def _cmd_login(ns: argparse.Namespace) -> Outcome:
    from ocibuild.registry import Credentials, connect
    from ocibuild.registry.auth import save_credentials

    if ns.username is None:
        raise UserError("login needs --username (interactive prompts are not supported)")
    if ns.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif ns.password is not None:
        password = ns.password
    else:
        raise UserError("login needs --password-stdin (or --password)")
    if not password:
        raise UserError("login: the password is empty")
    credentials = Credentials(ns.username, password)
    client = connect(ns.server, insecure=tuple(ns.insecure_registry), credentials=credentials)
    client.ping()
    path = save_credentials(ns.server, credentials)
    warnings = [f"WARNING! Your password will be stored unencrypted in {path}."]
    if not ns.password_stdin:
        warnings.insert(
            0, "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        )
    return Outcome(out=("Login Succeeded",), err=tuple(warnings))


def _cmd_logout(ns: argparse.Namespace) -> Outcome:
    from ocibuild.registry.auth import remove_credentials

    if not remove_credentials(ns.server):
        return Outcome(out=(f"Not logged in to {ns.server}",))
    return Outcome(out=(f"Removing login credentials for {ns.server}",))


def _progress(
    ns: argparse.Namespace,
) -> contextlib.AbstractContextManager[Callable[[Event], None] | None]:
    """Each blob's transfer as plain lines on stderr (a line a second while it
    runs, one when done), none with -q.  The live view is a build's: it
    counts steps, and a pull or push has none."""
    from ocibuild.progress.render import rendering

    return rendering("quiet" if ns.quiet else "plain", sys.stderr)


# ----------------------------------------------------------------------- parsers


def _add_quiet(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help=f"do not show {what}")


def _add_registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="use plain HTTP for this registry (loopback ones use it unless in certs.d)",
    )


def _add_pull(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("pull", parents=[parent], help="copy an image from a registry")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]", help="the image to pull")
    p.add_argument(
        "--platform", metavar="OS/ARCH[/VARIANT]", help="choose from a multi-platform image"
    )
    _add_quiet(p, "the download progress; print only the name")
    _add_registry_flags(p)
    p.set_defaults(handler=_cmd_pull)


def _add_push(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "push", parents=[parent], help="copy an image (or a whole image index) to a registry"
    )
    p.add_argument("name", metavar="NAME[:TAG]", help="the stored image, named for its registry")
    _add_quiet(p, "the upload progress")
    _add_registry_flags(p)
    p.set_defaults(handler=_cmd_push)


def _add_login(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("login", parents=[parent], help="check and store registry credentials")
    p.add_argument("server", metavar="SERVER", help="the registry's HOST[:PORT]")
    p.add_argument("-u", "--username", metavar="USER", help="the user name")
    p.add_argument("-p", "--password", metavar="PASSWORD", help="the password (insecure)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    _add_registry_flags(p)
    p.set_defaults(handler=_cmd_login)


def _add_logout(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("logout", parents=[parent], help="forget a registry's credentials")
    p.add_argument("server", metavar="SERVER", help="the registry's HOST[:PORT]")
    p.set_defaults(handler=_cmd_logout)


PARSERS: tuple[Callable[[SubParsers, argparse.ArgumentParser], None], ...] = (
    _add_pull,
    _add_push,
    _add_login,
    _add_logout,
)
COMMANDS = frozenset({"pull", "push", "login", "logout"})
