"""The COPY/ADD step and the WORKDIR step: the steps that add a layer without RUN.

:func:`copy_step` picks the source tree (the context, another stage, a named
context or an image), resolves ``--chown`` against the *destination*
stage's ``/etc/passwd`` and ``/etc/group``, and fills one new layer with
:mod:`ocibuild.executor.copy` (plus heredoc files and ADD's archives and URLs).
:func:`workdir_step` creates the working directory (owned by USER) in a
layer, which BuildKit writes even when the directory already exists (but
not for ``WORKDIR /``).  Heredoc sources become files of mode 0644 (BuildKit's
``Mkfile``), listed after the other sources in the history.
"""

from __future__ import annotations

import posixpath
import stat
from io import BytesIO
from typing import TYPE_CHECKING

from ocibuild._record import record, replace
from ocibuild.dockerfile.heredoc import parse_heredoc_word
from ocibuild.dockerfile.instructions import Add, Copy, Heredoc
from ocibuild.errors import UserError
from ocibuild.executor import add as add_mod
from ocibuild.executor.base import image_state
from ocibuild.executor.context import BuildContext
from ocibuild.executor.copy import (
    MULTI_SOURCE,
    ROOT,
    CopyRequest,
    copy_sources,
    dest_is_dir,
    parse_chmod,
)
from ocibuild.executor.history import copy_created_by
from ocibuild.executor.layers import commit_layer
from ocibuild.executor.named import open_named
from ocibuild.executor.sources import clean_inside, match_sources
from ocibuild.executor.upper import Meta
from ocibuild.executor.users import Owner, resolve_owner

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ocibuild.executor.layers import Layers
    from ocibuild.executor.sources import SourceTree
    from ocibuild.executor.state import StageState
    from ocibuild.executor.upper import Upper
    from ocibuild.oci import Platform
    from ocibuild.snapshot import RootView

__all__ = ["Sources", "copy_step", "join_dest", "workdir_step"]


@record
class Sources:
    """Where ``COPY --from`` may look: built stages by index/name, contexts, the store."""

    context: BuildContext
    stages: Mapping[str, StageState]
    named: Mapping[str, str]
    platform: Platform | None

    def tree(self, layers: Layers, name: str | None) -> tuple[SourceTree, bool]:
        """The tree for ``--from=name`` (None: the context); and whether owners are kept."""
        if name is None:
            return self.context, False
        if name.lower() in self.stages:
            return layers.tree(self.stages[name.lower()].layers), True
        if name in self.named:
            found = open_named(self.named[name], layers.store, self.platform)
            if isinstance(found, BuildContext):
                return found, False
            return layers.tree(image_state(found).layers), True
        image = image_state(layers.store.image(name, self.platform))
        return layers.tree(image.layers), True


def join_dest(workdir: str, dest: str) -> str:
    """``dest`` made absolute against WORKDIR, keeping a trailing ``/``."""
    joined = dest if dest.startswith("/") else posixpath.join(workdir, dest)
    slash = "/" if dest.endswith(("/", "/.")) or dest in (".", "") else ""
    return clean_inside(joined) + slash if clean_inside(joined) != "/" else "/"


def owner_of(spec: str, view: RootView) -> Owner:
    """Resolve ``user[:group]`` with the passwd/group files in ``view``."""
    return resolve_owner(spec, view.read_text("/etc/passwd"), view.read_text("/etc/group"))


def copy_step(
    layers: Layers, state: StageState, instr: Copy | Add, sources: Sources, created: str
) -> StageState:
    """Run one expanded COPY or ADD; returns the state with its layer and history."""
    view = layers.view(state.layers)
    chown = owner_of(instr.chown, view) if instr.chown else None
    from_name = instr.from_stage if isinstance(instr, Copy) else None
    tree, keep_owner = sources.tree(layers, from_name)
    dest = join_dest(state.workdir, instr.dest)
    words = tuple(s for s in instr.sources if parse_heredoc_word(s) is None)
    if isinstance(instr, Copy) and any(add_mod.is_url(w) for w in words):
        raise UserError("source can't be a URL for COPY")
    if len(instr.sources) > 1 and not dest.endswith("/"):
        raise UserError(MULTI_SOURCE)
    request = CopyRequest(
        sources=words,
        dest=dest,
        chown=chown,
        chmod=parse_chmod(instr.chmod),
        keep_owner=keep_owner,
        parents=isinstance(instr, Copy) and instr.parents,
        exclude=instr.exclude,
    )
    writer = _writer(instr, tree, request, layers)
    state = commit_layer(layers, state, writer, link=instr.link)
    keyword = "COPY" if isinstance(instr, Copy) else "ADD"
    heredocs = ["<<" + doc.name for doc in instr.heredocs]
    flags = ["--parents"] if request.parents else []
    created_by = copy_created_by(keyword, [*words, *heredocs], instr.dest, flags)
    return state.with_history(created, created_by, empty_layer=False)


def _writer(
    instr: Copy | Add, tree: SourceTree, request: CopyRequest, layers: Layers
) -> Callable[[Upper], None]:
    def write(upper: Upper) -> None:
        if instr.heredocs:
            _write_heredocs(upper, instr.heredocs, request)
        if isinstance(instr, Add):
            _add(upper, tree, request, instr, str(layers.store.tmp_dir))
        elif request.sources:
            copy_sources(tree, upper, request)

    return write


def _write_heredocs(upper: Upper, docs: tuple[Heredoc, ...], request: CopyRequest) -> None:
    owner = request.chown or ROOT
    into_dir = dest_is_dir(request.dest, upper.lower.is_dir(request.dest))
    base = upper.lower.resolve(request.dest)
    mode = request.chmod if request.chmod is not None else 0o644  # moby/buildkit#3992
    for doc in docs:
        path = clean_inside(base + "/" + doc.name) if into_dir else base
        meta = Meta(mode, owner.uid, owner.gid)
        upper.write_file(path, BytesIO(doc.content.encode()), meta, owner)


def _add(upper: Upper, tree: SourceTree, request: CopyRequest, instr: Add, spool: str) -> None:
    """ADD: URLs downloaded (unpacked only with --unpack=true), local archives
    unpacked unless --unpack=false, everything else copied as COPY does."""
    checksum = instr.checksum
    if checksum is not None and not all(add_mod.is_url(s) for s in request.sources):
        raise UserError("checksum can't be specified for non-HTTP(S) sources")
    plain: list[str] = []
    for word in request.sources:
        if add_mod.is_url(word):
            _add_url(upper, word, request, checksum, spool, unpack=instr.unpack is True)
        elif instr.unpack is False or not _add_archives(upper, tree, word, request):
            plain.append(word)
    if plain or not request.sources:
        copy_sources(tree, upper, replace(request, sources=tuple(plain)))


def _add_archives(upper: Upper, tree: SourceTree, word: str, request: CopyRequest) -> bool:
    """Unpack ``word`` if every path it names is a local archive; False if not archives."""
    paths = [tree.resolve(p) for p in match_sources(tree, word)]
    regular = [p for p in paths if _is_regular(tree, p)]
    if not paths or len(regular) != len(paths):
        return False
    for path in regular:
        with tree.open(path) as probe:
            if not add_mod.is_archive(probe):
                return False
    dest = upper.lower.resolve(request.dest)
    for path in regular:
        with tree.open(path) as stream:
            add_mod.extract_archive(stream, upper, dest, request.chown)
    return True


def _is_regular(tree: SourceTree, path: str) -> bool:
    try:
        return stat.S_ISREG(tree.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _add_url(
    upper: Upper,
    url: str,
    request: CopyRequest,
    checksum: str | None,
    spool: str,
    *,
    unpack: bool,
) -> None:
    stream, mtime = add_mod.download(url, checksum, spool)
    base = upper.lower.resolve(request.dest)
    if unpack and add_mod.is_archive(stream):
        stream.seek(0)
        with stream:
            add_mod.extract_archive(stream, upper, base, request.chown)
        return
    stream.seek(0)
    owner = request.chown or ROOT
    into_dir = dest_is_dir(request.dest, upper.lower.is_dir(request.dest))
    path = clean_inside(base + "/" + add_mod.url_filename(url)) if into_dir else base
    mode = request.chmod if request.chmod is not None else 0o600
    meta = Meta(mode, owner.uid, owner.gid, None if mtime is None else mtime * 10**9)
    with stream:
        upper.write_file(path, stream, meta, owner)


def workdir_step(layers: Layers, state: StageState, path: str, created: str) -> StageState:
    """WORKDIR ``path`` (expanded): set it, and create it in a layer (owned by USER)."""
    absolute = posixpath.normpath(posixpath.join(state.workdir, path))
    absolute = "/" + absolute.lstrip("/")
    if absolute == "/":  # BuildKit makes no layer for WORKDIR /
        state = state.with_config(working_dir=absolute)
        return state.with_history(created, "WORKDIR /", empty_layer=True)
    view = layers.view(state.layers)
    owner = owner_of(state.user, view) if state.user else ROOT

    def write(upper: Upper) -> None:
        resolved = view.resolve(absolute)
        if not view.is_dir(resolved):
            upper.ensure_dir(resolved, owner)

    state = commit_layer(layers, state.with_config(working_dir=absolute), write)
    return state.with_history(created, f"WORKDIR {absolute}", empty_layer=False)
