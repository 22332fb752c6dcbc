"""What a step's cache key is made of: the readable parts of docs/design/008.

:func:`step_parts` turns a stage's state and one *expanded* instruction into
the ``(name, value)`` parts hashed by :func:`ocibuild.plan.cachekey.key_for`:
the instruction and platform for every step, the mtime clamp for steps that
make a layer, what a RUN reads (env with the ARGs in scope, user, workdir,
shell, network, and the content of its bind mounts), and what a COPY/ADD
copies (:func:`~ocibuild.executor.checksum.sources_checksum` of the context
or a named directory, the key of a ``--from`` stage, or an image's identity).
:func:`stage_base` is where a stage's running key starts.  Looking keys up
and recording them is :mod:`ocibuild.executor.cache_step`'s job.
"""

from __future__ import annotations

import json
import posixpath
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.dockerfile.heredoc import parse_heredoc_word
from ocibuild.dockerfile.instructions import Add, Copy, Run, Workdir
from ocibuild.executor import add as add_mod
from ocibuild.executor.checksum import sources_checksum
from ocibuild.executor.context import BuildContext
from ocibuild.executor.mount_setup import parse_mounts
from ocibuild.executor.mounts import BindMount, CacheMount
from ocibuild.executor.named import open_named
from ocibuild.oci import Digest
from ocibuild.plan.cachekey import canonical_instruction

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.executor.checksum import StatCache
    from ocibuild.executor.copy_step import Sources
    from ocibuild.executor.layers import Layers
    from ocibuild.executor.options import NetworkMode
    from ocibuild.executor.sources import SourceTree
    from ocibuild.executor.state import StageState
    from ocibuild.plan import Stage

__all__ = ["KeyInputs", "Parts", "layer_step", "stage_base", "step_parts", "workdir_path"]

Parts = tuple[tuple[str, str], ...]


@record
class KeyInputs:
    """What key parts read besides the state: sources, store, stat cache, build flags."""

    layers: Layers
    sources: Sources
    stat_cache: StatCache | None
    network: NetworkMode
    clamp_mtime: int | None


def workdir_path(state: StageState, path: str) -> str:
    """WORKDIR ``path`` (expanded) made absolute against the current one."""
    absolute = posixpath.normpath(posixpath.join(state.workdir, path))
    return "/" + absolute.lstrip("/")


def layer_step(state: StageState, instr: Instruction) -> bool:
    """Whether ``instr`` makes a layer (and so is looked up in the cache)."""
    if isinstance(instr, Workdir):
        return workdir_path(state, instr.path) != "/"
    return isinstance(instr, Run | Copy | Add)


def stage_base(stage: Stage, state: StageState, built_key: str | None) -> str:
    """The text a stage's running key starts from: ``scratch``, the FROM stage's
    final key (``built_key``), or the base image's config digest (which names
    its diff_ids, env and all, as the image is used)."""
    if built_key is not None:
        return built_key
    if stage.base.lower() == "scratch":
        return "scratch"
    return "image " + str(Digest.from_bytes(state.config.to_json()))


def _platform(state: StageState) -> str:
    config = state.config
    return "/".join(p for p in (config.os, config.architecture, config.variant) if p)


def step_parts(state: StageState, instr: Instruction, inputs: KeyInputs) -> Parts | None:
    """The parts of ``instr``'s key after ``state``; None when its result cannot be
    known before it runs (ADD of a URL without ``--checksum``)."""
    common: Parts = (
        ("instruction", canonical_instruction(instr)),
        ("platform", _platform(state)),
    )
    if not layer_step(state, instr):
        return common
    common = (*common, ("clamp", "" if inputs.clamp_mtime is None else str(inputs.clamp_mtime)))
    match instr:
        case Run():
            return (*common, *_run_parts(state, instr, inputs))
        case Copy() | Add():
            copied = _copy_parts(instr, inputs)
            return None if copied is None else (*common, *copied)
        case _:
            return common


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _run_parts(state: StageState, instr: Run, inputs: KeyInputs) -> Parts:
    network = instr.network if instr.network not in (None, "default") else inputs.network
    mounts = [_mount_part(m, inputs) for m in parse_mounts(instr.mounts)]
    return (
        ("env", _json(sorted(state.expansion_env.items()))),
        ("args", _json(list(state.arg_names))),
        ("user", state.user),
        ("workdir", state.workdir),
        ("shell", _json(list(state.shell))),
        ("network", str(network)),
        ("mounts", _json(mounts)),
    )


def _mount_part(mount: object, inputs: KeyInputs) -> str:
    """What a mount brings in: a bind (or a seeded cache) names its source's content."""
    match mount:
        case BindMount(source=source, from_=name):
            return tree_part(inputs, name, (source,), (), parents=False)
        case CacheMount(source=source, from_=name) if name is not None:
            return tree_part(inputs, name, (source,), (), parents=False)
        case _:
            return ""  # cache contents, tmpfs and secrets do not enter the key


def tree_part(
    inputs: KeyInputs,
    name: str | None,
    words: Sequence[str],
    exclude: Sequence[str],
    *,
    parents: bool,
) -> str:
    """The identity of ``words`` in the tree ``name`` (None: the context):
    a checksum of a directory tree, a stage's key, or an image's manifest digest."""
    sources = inputs.sources
    if name is None:
        return _checksum(sources.context, words, exclude, parents, inputs)
    if name.lower() in sources.stages:
        return "stage " + str(sources.stages[name.lower()].cache_key)
    store = inputs.layers.store
    if name in sources.named:
        found = open_named(sources.named[name], store, sources.platform)
        if isinstance(found, BuildContext):
            return _checksum(found, words, exclude, parents, inputs)
        return "image " + str(found.manifest_desc.digest)
    return "image " + str(store.image(name, sources.platform).manifest_desc.digest)


def _checksum(
    tree: SourceTree,
    words: Sequence[str],
    exclude: Sequence[str],
    parents: bool,
    inputs: KeyInputs,
) -> str:
    return sources_checksum(tree, words, exclude=exclude, parents=parents, db=inputs.stat_cache)


def _copy_parts(instr: Copy | Add, inputs: KeyInputs) -> Parts | None:
    words = [w for w in instr.sources if parse_heredoc_word(w) is None]
    urls = [w for w in words if add_mod.is_url(w)]
    if urls and (isinstance(instr, Copy) or instr.checksum is None):
        return None  # COPY of a URL fails when run; ADD downloads first
    local = [w for w in words if not add_mod.is_url(w)]
    name = instr.from_stage if isinstance(instr, Copy) else None
    parents = isinstance(instr, Copy) and instr.parents
    part = "from" if name is not None else "sources"
    checksum = instr.checksum if isinstance(instr, Add) else None
    return (
        (part, tree_part(inputs, name, local, instr.exclude, parents=parents) if local else ""),
        ("url", checksum or ""),
        ("chown", instr.chown or ""),
        ("chmod", instr.chmod or ""),
    )
