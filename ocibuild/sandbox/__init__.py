"""The RUN sandbox: RunSpec -> OCI bundle -> runtime (builtin, runc, crun).

``spec`` decides (pure, golden-tested); ``runtime`` runs a bundle and
streams its output; ``init``, ``rootfs`` and ``process`` are the builtin
runtime's helper process, which also mounts the rootfs overlay
(``RunSpec.overlay``, with ``ocibuild.snapshot.overlay``) in its private
mount namespace for every runtime.  See docs/design/006-sandbox.md.
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
    Overlay,
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
    "Overlay",
    "RunSpec",
    "RuncRuntime",
    "Runtime",
    "SandboxError",
    "User",
    "default_runtime",
    "oci_config",
    "write_bundle",
]
