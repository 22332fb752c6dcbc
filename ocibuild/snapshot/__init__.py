"""Snapshots: unpacked layers named by chain ID, and a union view over them.

``Snapshots(root).ensure(store, layers)`` unpacks each layer once and returns
the lower dirs topmost first; ``RootView(lowers)`` answers questions about
the merged file system (overlayfs rules) without mounting it.  Overlay
mounts, and turning an upper dir into changes, are the executor's business.
"""

from __future__ import annotations

from ocibuild.snapshot.rootview import MAX_SYMLINKS, RootView, SymlinkLoopError
from ocibuild.snapshot.snapshots import LayerRef, Snapshots, chain_ids

__all__ = [
    "MAX_SYMLINKS",
    "LayerRef",
    "RootView",
    "Snapshots",
    "SymlinkLoopError",
    "chain_ids",
]
