"""``ocibuild import``: a root filesystem tarball becomes a one-layer image, as ``docker import``.

The tarball (plain, gzip or zstd) is stored uncompressed as the layer, as is:
its diff_id is its digest.  The config gets the host platform (or the one
asked for), one history entry whose comment is the message (default
``Imported from <source>``), and the ``--change`` instructions: CMD
ENTRYPOINT ENV EXPOSE LABEL ONBUILD USER VOLUME WORKDIR STOPSIGNAL, parsed by
the Dockerfile parser, expanded with the config's environment, and applied
by the executor's config-step handlers (no history for them, as Docker).
"""

from __future__ import annotations

import posixpath
import time
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import replace
from ocibuild.errors import UserError
from ocibuild.oci import HistoryEntry, Manifest, Platform, format_timestamp, mediatypes

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ocibuild.executor.state import StageState
    from ocibuild.oci import Descriptor, ImageConfig
    from ocibuild.store import Store

__all__ = ["CHANGE_INSTRUCTIONS", "ChangeError", "import_rootfs"]

CHANGE_INSTRUCTIONS = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "USER",
        "VOLUME",
        "WORKDIR",
        "STOPSIGNAL",
    }
)
_CHUNK = 1 << 20


class ChangeError(UserError):
    """A ``--change`` value is not one of the instructions ``import`` accepts."""


def import_rootfs(
    store: Store,
    stream: BinaryIO,
    *,
    changes: Sequence[str] = (),
    message: str = "",
    source: str = "-",
    platform: Platform | None = None,
    created: int | None = None,
) -> Descriptor:
    """Store the tarball on ``stream`` as a one-layer image; return its manifest descriptor.

    ``created`` is the creation time in Unix seconds (default: now).
    """
    with store.in_use():  # no gc before the manifest names the layer (callers tag inside theirs)
        config = _changed_config(
            _base_config(platform, created, message or f"Imported from {source}"), changes
        )
        layer = _store_layer(store, stream)
        config = replace(config, diff_ids=(layer.digest,))
        config_desc = store.put_bytes(config.to_json(), mediatypes.OCI_CONFIG)
        manifest = Manifest(config=config_desc, layers=(layer,))
        return store.put_bytes(manifest.to_json(), mediatypes.OCI_MANIFEST)


def _base_config(platform: Platform | None, created: int | None, comment: str) -> ImageConfig:
    from ocibuild.oci import ImageConfig

    target = platform or Platform.host()
    when = format_timestamp(time.time() if created is None else created)
    return ImageConfig(
        architecture=target.architecture,
        os=target.os,
        variant=target.variant,
        created=when,
        history=(HistoryEntry(created=when, comment=comment),),
    )


def _store_layer(store: Store, stream: BinaryIO) -> Descriptor:
    from ocibuild.layer.compress import decompressed

    with decompressed(stream) as tar, store.writer(mediatypes.OCI_LAYER) as writer:
        while chunk := tar.read(_CHUNK):
            writer.write(chunk)
        return writer.commit(None)


def _changed_config(config: ImageConfig, changes: Sequence[str]) -> ImageConfig:
    if not changes:
        return config
    from ocibuild.dockerfile import parse
    from ocibuild.executor.state import StageState

    # The parser wants a stage: give it one and skip its FROM (line 1).
    parsed = parse("FROM scratch\n" + "\n".join(changes) + "\n", path="--change")
    state = StageState(config=config)
    for instr in parsed.instructions[1:]:
        state = _apply_change(state, instr, parsed.escape)
    return replace(state.config, history=config.history, created=config.created)


def _apply_change(state: StageState, instr: object, escape: str) -> StageState:
    from ocibuild.dockerfile import instructions as i
    from ocibuild.dockerfile.expand import expand_instruction
    from ocibuild.executor.config_steps import apply_config_step

    keyword = type(instr).__name__.upper()
    if keyword not in CHANGE_INSTRUCTIONS:
        raise ChangeError(f"{keyword} is not a valid change command")
    expanded = expand_instruction(instr, state.expansion_env, escape)  # type: ignore[arg-type]
    if isinstance(expanded, i.Workdir):
        path = posixpath.join(state.workdir, expanded.path)
        return state.with_config(working_dir=posixpath.normpath(path))
    assert not isinstance(expanded, i.From | i.Run | i.Copy | i.Add | i.Arg | i.Shell)
    return apply_config_step(state, expanded, state.config.created, lambda _n, _d: None)
