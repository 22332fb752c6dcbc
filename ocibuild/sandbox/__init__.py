"""The RUN sandbox: RunSpec -> OCI bundle -> runtime (builtin, runc, crun).

``spec`` decides (pure, golden-tested); ``runtime`` runs a bundle and
streams its output; ``init``, ``rootfs`` and ``process`` are the builtin
runtime's helper process.  Overlay mounts for the rootfs are in
``ocibuild.snapshot.overlay``.  See docs/design/006-sandbox.md.
"""

from __future__ import annotations

from ocibuild.sandbox.runtime import (
    BuiltinRuntime,
    RuncRuntime,
    Runtime,
    SandboxError,
    default_runtime,
)
from ocibuild.sandbox.spec import (
    DEFAULT_CAPABILITIES,
    DEFAULT_HOSTNAME,
    Mount,
    RunSpec,
    User,
    oci_config,
    write_bundle,
)

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_HOSTNAME",
    "BuiltinRuntime",
    "Mount",
    "RunSpec",
    "RuncRuntime",
    "Runtime",
    "SandboxError",
    "User",
    "default_runtime",
    "oci_config",
    "write_bundle",
]
