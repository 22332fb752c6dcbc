"""Store commands: images, tag, rmi, inspect, load, save, import, prune.

Each ``_add_*`` registers one subcommand and its handler; handlers turn
arguments into calls on :class:`ocibuild.store.Store` and
:mod:`ocibuild.export` and print what ``docker`` prints.  Table and JSON
shapes live in :mod:`ocibuild._cli_format`.  Errors propagate to ``cli._run``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocibuild import _cli_format as fmt
from ocibuild._record import record
from ocibuild.errors import UserError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable
    from typing import TypeAlias

    from ocibuild.oci import Descriptor
    from ocibuild.store import Store

    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["COMMANDS", "PARSERS", "NoSuchImageError", "Outcome", "find_image", "unpacked"]


@record
class Outcome:
    """What a command wants shown: its exit status and lines for stdout and stderr."""

    status: int = 0
    out: tuple[str, ...] = ()
    err: tuple[str, ...] = ()


class NoSuchImageError(UserError):
    """A name or ID matches no image in the store."""


def store_of(ns: argparse.Namespace) -> Store:
    from ocibuild.api import open_store

    return open_store(ns.root or os.environ.get("OCIBUILD_ROOT") or None)


def find_image(store: Store, name: str) -> Descriptor:
    """The image called ``name``: a ref (``app``, ``app:1``), a digest or an image ID prefix."""
    found = store.resolve(name)
    if found is None:
        raise NoSuchImageError(f"no such image: {name}")
    return found


# ---------------------------------------------------------------------- handlers


def _cmd_images(ns: argparse.Namespace) -> Outcome:
    rows = fmt.image_rows(store_of(ns))
    if ns.quiet:
        return Outcome(out=tuple(dict.fromkeys(r.image_id for r in rows)))
    return Outcome(out=(fmt.table(fmt.IMAGE_HEADERS, [r.cells() for r in rows]),))


def _cmd_tag(ns: argparse.Namespace) -> Outcome:
    from ocibuild.oci import Reference

    store = store_of(ns)
    target = Reference.parse(ns.target).familiar()
    with store.lock():
        store.tag(target, find_image(store, ns.source))
    return Outcome()


def _cmd_rmi(ns: argparse.Namespace) -> Outcome:
    store = store_of(ns)
    out: list[str] = []
    err: list[str] = []
    with store.lock():
        for name in ns.names:
            try:
                target = find_image(store, name)
                for ref in fmt.refs_to_untag(store, name, target, force=ns.force):
                    store.untag(ref)
                    out.append(f"Untagged: {ref}")
            except UserError as error:
                err.append(f"ocibuild: {error}")
    return Outcome(1 if err else 0, tuple(out), tuple(err))


def _cmd_inspect(ns: argparse.Namespace) -> Outcome:
    store = store_of(ns)
    found: list[dict[str, object]] = []
    err: list[str] = []
    for name in ns.names:
        try:
            found.append(fmt.inspect_image(store, find_image(store, name)))
        except NoSuchImageError as error:
            err.append(f"ocibuild: {error}")
    return Outcome(1 if err else 0, (fmt.json_text(found),), tuple(err))


def _cmd_load(ns: argparse.Namespace) -> Outcome:
    from ocibuild.export import load_archive

    store = store_of(ns)
    if ns.input in (None, "-"):
        loaded = load_archive(store, sys.stdin.buffer)
    else:
        with _open_input(ns.input) as stream:
            loaded = load_archive(store, stream)
    err = unpacked(store, loaded)
    if ns.quiet:
        return Outcome(err=err)
    return Outcome(
        out=tuple(
            f"Loaded image ID: {item}" if item.startswith("sha256:") else f"Loaded image: {item}"
            for item in loaded
        ),
        err=err,
    )


def unpacked(store: Store, names: Iterable[str | Descriptor]) -> tuple[str, ...]:
    """Unpack each image as Docker does on load, pull and import; warnings for stderr."""
    from ocibuild.api import unpack_image

    warnings = (unpack_image(store, name) for name in dict.fromkeys(names))
    return tuple(f"ocibuild: warning: {text}" for text in warnings if text is not None)


def _open_input(path: str) -> BinaryIO:
    try:
        return Path(path).open("rb")
    except OSError as err:
        raise UserError(f"cannot open {path}: {err.strerror}") from None


def _cmd_save(ns: argparse.Namespace) -> Outcome:
    from ocibuild.export import ArchiveImage, write_archive

    store = store_of(ns)
    to_stdout = ns.output in (None, "-")
    if to_stdout and sys.stdout.isatty():
        raise UserError("cowardly refusing to save to a terminal; use -o or redirect stdout")
    items = [
        ArchiveImage(
            store.image(find_image(store, name)), () if fmt.looks_like_id(name) else (name,)
        )
        for name in ns.names
    ]
    dest = sys.stdout.buffer if to_stdout else ns.output
    write_archive(store, items, dest, docker=ns.format == "docker", compression=ns.compression)
    return Outcome()


def _cmd_import(ns: argparse.Namespace) -> Outcome:
    from ocibuild.api import source_date_epoch_from
    from ocibuild.export import import_rootfs
    from ocibuild.oci import Platform, Reference

    store = store_of(ns)
    ref = Reference.parse(ns.name).familiar() if ns.name else None
    platform = Platform.parse(ns.platform) if ns.platform else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(store.in_use())  # no gc before the tag names the new image
        stream = sys.stdin.buffer if ns.file == "-" else stack.enter_context(_open_input(ns.file))
        manifest = import_rootfs(
            store,
            stream,
            changes=ns.change,
            message=ns.message or "",
            source=ns.file,
            platform=platform,
            created=source_date_epoch_from(os.environ),
        )
        if ref is not None:
            with store.lock():
                store.tag(ref, manifest)
    err = unpacked(store, [manifest])
    return Outcome(out=(str(store.image(manifest).config_desc.digest),), err=err)


def _cmd_prune(ns: argparse.Namespace) -> Outcome:
    from ocibuild.api import prune
    from ocibuild.store.cache_prune import PruneError

    until: str | None = None
    for item in ns.filter:
        key, sep, value = item.partition("=")
        if key != "until" or not sep:
            raise PruneError(f"unsupported --filter {item!r}: only until=DURATION is supported")
        until = value
    root = ns.root or os.environ.get("OCIBUILD_ROOT") or None
    report = prune(root, keep_storage=ns.keep_storage, until=until, on_wait=_say_waiting)
    deleted = ("Deleted build cache objects:", *report.records, "") if report.records else ()
    return Outcome(out=(*deleted, f"Total reclaimed space: {fmt.human_size(report.freed)}"))


def _say_waiting() -> None:
    sys.stderr.write(
        "ocibuild: waiting for the builds, pulls and loads using the store to finish\n"
    )
    sys.stderr.flush()


# ----------------------------------------------------------------------- parsers


def _add_images(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("images", parents=[parent], help="list the images in the store")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.set_defaults(handler=_cmd_images)


def _add_tag(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tag", parents=[parent], help="give an image another name")
    p.add_argument("source", metavar="SOURCE", help="an image name or ID")
    p.add_argument("target", metavar="TARGET", help="the new name[:tag]")
    p.set_defaults(handler=_cmd_tag)


def _add_rmi(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rmi", parents=[parent], help="remove image names (prune frees space)")
    p.add_argument("names", nargs="+", metavar="NAME", help="image names or IDs")
    p.add_argument(
        "-f", "--force", action="store_true", help="remove every name of an image given by ID"
    )
    p.set_defaults(handler=_cmd_rmi)


def _add_inspect(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("inspect", parents=[parent], help="show images as JSON")
    p.add_argument("names", nargs="+", metavar="NAME", help="image names or IDs")
    p.set_defaults(handler=_cmd_inspect)


def _add_load(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("load", parents=[parent], help="load images from an OCI or docker archive")
    p.add_argument("-i", "--input", metavar="FILE", help="read FILE instead of stdin")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    p.set_defaults(handler=_cmd_load)


def _add_save(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("save", parents=[parent], help="write images to an archive")
    p.add_argument("names", nargs="+", metavar="NAME", help="image names or IDs")
    p.add_argument("-o", "--output", metavar="FILE", help="write FILE instead of stdout")
    p.add_argument(
        "--format",
        choices=("docker", "oci"),
        default="docker",
        help="docker (default; also a valid OCI layout) or oci",
    )
    p.add_argument(
        "--compression",
        choices=("none", "gzip", "zstd"),
        default="none",
        help="compress layers (oci format only; default: none)",
    )
    p.set_defaults(handler=_cmd_save)


def _add_import(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("import", parents=[parent], help="make an image from a rootfs tarball")
    p.add_argument("file", metavar="FILE|-", help="the tarball (plain, gzip or zstd); - = stdin")
    p.add_argument("name", nargs="?", metavar="NAME[:TAG]", help="name the image")
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        metavar="INSTRUCTION",
        help="apply a Dockerfile instruction (" + " ".join(sorted(_change_words())) + ")",
    )
    p.add_argument("-m", "--message", metavar="TEXT", help="the history comment")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="the image's platform")
    p.set_defaults(handler=_cmd_import)


def _change_words() -> frozenset[str]:
    from ocibuild.export.rootfs_import import CHANGE_INSTRUCTIONS

    return CHANGE_INSTRUCTIONS


def _add_prune(sub: SubParsers, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "prune", parents=[parent], help="trim the build cache, delete blobs nothing needs"
    )
    p.add_argument(
        "--keep-storage",
        metavar="SIZE",
        help="drop least recently used cache records until their layers fit (10GB, 500MB)",
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="until=DURATION",
        help="drop cache records unused for longer than DURATION (24h, 30m)",
    )
    p.set_defaults(handler=_cmd_prune)


PARSERS: tuple[Callable[[SubParsers, argparse.ArgumentParser], None], ...] = (
    _add_images,
    _add_tag,
    _add_rmi,
    _add_inspect,
    _add_load,
    _add_save,
    _add_import,
    _add_prune,
)
COMMANDS = frozenset(
    {
        "images",
        "tag",
        "rmi",
        "inspect",
        "load",
        "save",
        "import",
        "prune",
    }
)
