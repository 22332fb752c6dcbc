"""Making one new layer: a fresh upper dir, filled, stored, and kept as a snapshot.

:func:`commit_layer` gives a writer an :class:`~ocibuild.executor.upper.Upper`
over the stage's current layers, archives the result with
``layer.store_layer`` (uncompressed, mtimes clamped to SOURCE_DATE_EPOCH
when set), and then renames the upper dir into the snapshot directory of
the new chain ID, so the next step finds it without unpacking the blob
again.  The upper dir is created inside the snapshots root (same file
system) as a ``store.scratch`` dir, like ``Snapshots``' own unpacking, so
the rename is atomic; if another build got there first, ours is thrown away
(``Snapshots.scratch``, which also spreads new snapshots over an ext4 disk).
The scratch name says which process owns it: ``Layers.for_store``, called
once at the start of every build, sweeps those whose owner is gone (a build
killed by SIGKILL), never one of a concurrent build; and so for the
half-made ``RUN --mount=type=cache`` dirs (``cache-mounts/%new-<owner>``).
When someone listens to progress, ``Layers.progress`` is the step's and the
bytes written are reported as a ``layer`` transfer.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild._rmtree import rmtree
from ocibuild.errors import out_of_space
from ocibuild.executor.sources import ViewTree
from ocibuild.executor.upper import Upper
from ocibuild.layer import store_layer
from ocibuild.progress.report import NO_STEP, StepProgress
from ocibuild.snapshot import RootView, Snapshots, chain_ids
from ocibuild.store.scratch import CACHE_MOUNT_PREFIX, sweep_scratch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import BinaryIO

    from ocibuild.executor.state import StageState
    from ocibuild.layer import LayerBlob
    from ocibuild.layer.blob import BlobWriter, LayerStore
    from ocibuild.oci import Descriptor, Digest
    from ocibuild.progress.report import Meter
    from ocibuild.store import Store

__all__ = ["Layers", "commit_layer"]


@record
class Layers:
    """The store, its snapshots, and the mtime clamp: what a layer-making step needs.

    ``progress`` is the running step's (set per step, only when someone listens).
    """

    store: Store
    snapshots: Snapshots
    clamp_mtime: int | None
    progress: StepProgress = NO_STEP

    @classmethod
    def for_store(cls, store: Store, clamp_mtime: int | None) -> Layers:
        """The layers of ``store``; first sweeps temp dirs abandoned by dead builds."""
        sweep_scratch(store.snapshots_dir)
        sweep_scratch(store.cache_mounts_dir, CACHE_MOUNT_PREFIX)
        return cls(store, Snapshots(store.snapshots_dir), clamp_mtime)

    def view(self, layers: Sequence[LayerBlob]) -> RootView:
        """The merged rootfs of ``layers`` (unpacked on first use)."""
        return RootView(self.snapshots.ensure(self.store, layers))

    def tree(self, layers: Sequence[LayerBlob]) -> ViewTree:
        return ViewTree(self.view(layers))


def commit_layer(
    layers: Layers, state: StageState, write: Callable[[Upper], None], *, link: bool = False
) -> StageState:
    """Run ``write`` on a new upper dir over ``state``'s layers; stack the result.

    With ``link`` (COPY --link) the upper dir is written over an empty root,
    so the layer does not depend on what is below it.
    """
    view = RootView([]) if link else layers.view(state.layers)
    tmp = layers.snapshots.scratch()
    try:
        upper = tmp / "diff"
        upper.mkdir()
        with out_of_space(f"writing a new layer's files under {layers.snapshots.root}"):
            write(Upper(upper, view))
        meter = layers.progress.meter("layer", "layer")
        sink: LayerStore = layers.store if meter is None else _Metered(layers.store, meter)
        blob = store_layer(sink, upper, clamp_mtime=layers.clamp_mtime)
        if meter is not None:
            meter.finish(blob.descriptor.size)
        chain = chain_ids([*state.config.diff_ids, blob.diff_id])[-1]
        layers.snapshots.adopt(tmp, chain, blob.diff_id)
    finally:
        if tmp.exists():
            rmtree(tmp)
    return state.with_layer(blob)


class _Metered:
    """A layer store whose blob writers count the bytes written into ``meter``."""

    def __init__(self, store: Store, meter: Meter) -> None:
        self._store, self._meter = store, meter

    @contextlib.contextmanager
    def writer(self, media_type: str, *, verify: bool = True) -> Iterator[BlobWriter]:
        with self._store.writer(media_type, verify=verify) as writer:
            yield _MeteredWriter(writer, self._meter)

    def open_blob(self, digest: Digest) -> BinaryIO:
        return self._store.open_blob(digest)


class _MeteredWriter:
    def __init__(self, writer: BlobWriter, meter: Meter) -> None:
        self._writer, self._meter = writer, meter

    def write(self, data: bytes, /) -> object:
        self._meter(len(data))
        return self._writer.write(data)

    def commit(self, expected: Digest | None = None) -> Descriptor:
        return self._writer.commit(expected)
