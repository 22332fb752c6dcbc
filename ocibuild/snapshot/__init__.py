"""Snapshots: unpacked layers named by chain ID, and a union view over them.

``Snapshots(root).ensure(store, layers)`` unpacks each layer once and returns
the lower dirs topmost first; ``RootView(lowers)`` answers questions about
the merged file system (overlayfs rules) without mounting it.  Overlay
mounts, and turning an upper dir into changes, are the executor's business.
Names are loaded on first use: the sandbox helper imports ``.overlay`` alone,
at the start of every RUN, and needs none of the store code ``.snapshots``
brings.
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names

if _typing.TYPE_CHECKING:
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

_LAZY = {
    "MAX_SYMLINKS": "ocibuild.snapshot.rootview",
    "RootView": "ocibuild.snapshot.rootview",
    "SymlinkLoopError": "ocibuild.snapshot.rootview",
    "LayerRef": "ocibuild.snapshot.snapshots",
    "Snapshots": "ocibuild.snapshot.snapshots",
    "chain_ids": "ocibuild.snapshot.snapshots",
}

__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
