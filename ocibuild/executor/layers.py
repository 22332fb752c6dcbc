"""Making one new layer: a fresh upper dir, filled, stored, and kept as a snapshot.

:func:`commit_layer` gives a writer an :class:`~ocibuild.executor.upper.Upper`
over the stage's current layers, archives the result with
``layer.store_layer`` (uncompressed, mtimes clamped to SOURCE_DATE_EPOCH
when set), and then renames the upper dir into the snapshot directory of
the new chain ID, so the next step finds it without unpacking the blob
again.  The upper dir is created inside the snapshots root (same file
system) as a ``store.scratch`` dir, like ``Snapshots``' own unpacking, so
the rename is atomic; if another build got there first, ours is thrown away.
The scratch name says which process owns it: ``Layers.for_store``, called
once at the start of every build, sweeps those whose owner is gone (a build
killed by SIGKILL), never one of a concurrent build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild._rmtree import rmtree
from ocibuild.executor.sources import ViewTree
from ocibuild.executor.upper import Upper
from ocibuild.layer import store_layer
from ocibuild.snapshot import RootView, Snapshots, chain_ids
from ocibuild.store.scratch import scratch_dir, sweep_scratch

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from ocibuild.executor.state import StageState
    from ocibuild.layer import LayerBlob
    from ocibuild.store import Store

__all__ = ["Layers", "commit_layer"]


@record
class Layers:
    """The store, its snapshots, and the mtime clamp: what a layer-making step needs."""

    store: Store
    snapshots: Snapshots
    clamp_mtime: int | None

    @classmethod
    def for_store(cls, store: Store, clamp_mtime: int | None) -> Layers:
        """The layers of ``store``; first sweeps temp dirs abandoned by dead builds."""
        sweep_scratch(store.snapshots_dir)
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
    layers.snapshots.root.mkdir(parents=True, exist_ok=True)
    tmp = scratch_dir(layers.snapshots.root)
    try:
        upper = tmp / "diff"
        upper.mkdir()
        write(Upper(upper, view))
        blob = store_layer(layers.store, upper, clamp_mtime=layers.clamp_mtime)
        chain = chain_ids([*state.config.diff_ids, blob.diff_id])[-1]
        _adopt(tmp, layers.snapshots.path(chain).parent)
    finally:
        if tmp.exists():
            rmtree(tmp)
    return state.with_layer(blob)


def _adopt(tmp: Path, dest: Path) -> None:
    if dest.exists():
        return
    tmp.chmod(0o700)
    try:
        tmp.rename(dest)
    except OSError:
        if not dest.exists():
            raise
