"""Images out of the store and into it: archives, root filesystems, imports.

* :func:`write_oci_archive`, :func:`write_docker_archive`, :func:`write_archive`:
  OCI layout and docker-save tarballs (:mod:`.archive`);
* :func:`write_local`, :func:`write_rootfs_tar`: the final rootfs (:mod:`.local`);
* :func:`load_archive`: either archive format into the store (:mod:`.load`);
* :func:`import_rootfs`: a rootfs tarball as a one-layer image (:mod:`.rootfs_import`);
* :class:`OutputSpec`, :func:`parse_output`: ``--output`` values (:mod:`.outputs`).

Layer tar details (compression, safe unpacking) belong to :mod:`ocibuild.layer`;
blob storage and refs to :mod:`ocibuild.store`.
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names

if _typing.TYPE_CHECKING:
    from ocibuild.export.archive import (
        ArchiveImage,
        write_archive,
        write_docker_archive,
        write_oci_archive,
    )
    from ocibuild.export.load import (
        ArchiveError,
        load_archive,
    )
    from ocibuild.export.local import (
        write_local,
        write_rootfs_tar,
    )
    from ocibuild.export.outputs import (
        OutputError,
        OutputSpec,
        parse_output,
    )
    from ocibuild.export.rootfs_import import (
        ChangeError,
        import_rootfs,
    )

__all__ = [
    "ArchiveError",
    "ArchiveImage",
    "ChangeError",
    "OutputError",
    "OutputSpec",
    "import_rootfs",
    "load_archive",
    "parse_output",
    "write_archive",
    "write_docker_archive",
    "write_local",
    "write_oci_archive",
    "write_rootfs_tar",
]

# Names are imported on first use: the CLI parses --output (outputs) on every
# build, but the archive writers, loader and rootfs import only when asked.
_MODULES = {
    "ArchiveError": "ocibuild.export.load",
    "ArchiveImage": "ocibuild.export.archive",
    "ChangeError": "ocibuild.export.rootfs_import",
    "OutputError": "ocibuild.export.outputs",
    "OutputSpec": "ocibuild.export.outputs",
    "import_rootfs": "ocibuild.export.rootfs_import",
    "load_archive": "ocibuild.export.load",
    "parse_output": "ocibuild.export.outputs",
    "write_archive": "ocibuild.export.archive",
    "write_docker_archive": "ocibuild.export.archive",
    "write_local": "ocibuild.export.local",
    "write_oci_archive": "ocibuild.export.archive",
    "write_rootfs_tar": "ocibuild.export.local",
}

__getattr__, __dir__ = _lazy_names(__name__, _MODULES, __all__)
