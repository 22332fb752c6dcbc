"""The RUN sandbox: RunSpec -> OCI bundle -> runtime (builtin, runc, crun).

``spec`` decides (pure, golden-tested); ``runtime`` runs a bundle and
streams its output; ``init``, ``rootfs`` and ``process`` are the builtin
runtime's helper process, which also mounts the rootfs overlay
(``RunSpec.overlay``, with ``ocibuild.snapshot.overlay``) in its private
mount namespace for every runtime.  See docs/design/006-sandbox.md.
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names

if _typing.TYPE_CHECKING:
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

# Names are imported on first use: every build asks for a runtime, but only a
# RUN that runs needs the spec, the bundle writer and the helpers.
_MODULES = {
    "BuiltinRuntime": "ocibuild.sandbox.runtime",
    "DEFAULT_CAPABILITIES": "ocibuild.sandbox.spec",
    "DEFAULT_HOSTNAME": "ocibuild.sandbox.spec",
    "Mount": "ocibuild.sandbox.spec",
    "Overlay": "ocibuild.sandbox.spec",
    "RunSpec": "ocibuild.sandbox.spec",
    "RuncRuntime": "ocibuild.sandbox.runtime",
    "Runtime": "ocibuild.sandbox.runtime",
    "SandboxError": "ocibuild.sandbox.runtime",
    "User": "ocibuild.sandbox.spec",
    "default_runtime": "ocibuild.sandbox.runtime",
    "oci_config": "ocibuild.sandbox.spec",
    "write_bundle": "ocibuild.sandbox.spec",
}

__getattr__, __dir__ = _lazy_names(__name__, _MODULES, __all__)
