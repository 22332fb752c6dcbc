"""RUN cannot make namespaces (Docker's seccomp rule) nor read the host disk through a node.

The many-tries version with figures: ``python -m reliability.run --only RUN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ocibuild import api

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM busybox:latest
RUN mkdir -p /m && ! unshare -U true && ! unshare -m true && ! unshare -U -r -m mount -t tmpfs x /m
RUN grep -q 'CapEff:.*a80425fb$' /proc/self/status
RUN cp /bin/busybox /busybox.suid && chmod 4755 /busybox.suid
USER 1000
RUN v=$(/busybox.suid awk '/CapEff/ {print $2}' /proc/self/status) && \
    test $(( 0x$v & ~0xa80425fb )) -eq 0
USER 0
RUN mknod /disk b 254 0 && ! head -c 1 /disk
RUN sh -c 'echo threads and forks still work' | cat
"""


@pytest.mark.usefixtures("ocibuild_base")
def test_run_cannot_unshare_or_gain_capabilities(ocibuild_root: Path, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    api.build(tmp_path, root=ocibuild_root)
