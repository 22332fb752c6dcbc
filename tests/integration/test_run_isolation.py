"""What a RUN can see of the host, checked through a real build.

Each RUN writes its findings into /out in the image; the test reads them
back from the built image's layers.  Expectations are Docker's: own PID
namespace, no host mounts or files, no CAP_SYS_ADMIN (so no mounting), the
sandbox host name, Docker's 14 default capabilities (CapBnd
``00000000a80425fb``), and only ``lo`` under ``--network=none``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.executor.base import image_state
from ocibuild.snapshot import RootView, Snapshots
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

DOCKER_CAPS = "00000000a80425fb"
SANDBOX_MOUNTS = ("/", "/proc", "/dev", "/sys", "/etc/hosts", "/etc/resolv.conf")

DOCKERFILE = """\
FROM busybox:latest
RUN mkdir -p /out /mnt
RUN ls /proc | grep -E '^[0-9]+$' > /out/pids; ps -o pid > /out/ps
RUN cat /proc/self/mountinfo > /out/mountinfo
RUN for p in /etc/passwd {marker} /proc/1/root{marker} /proc/1/root/work; do \
      if test -e "$p"; then echo "seen $p"; fi; done > /out/marker
RUN if mount -o remount,rw /sys 2>/dev/null; then echo remounted; else echo refused; fi > /out/sys
RUN if mount -t tmpfs x /mnt 2>/dev/null; then echo mounted; else echo refused; fi > /out/tmpfs
RUN hostname > /out/hostname
RUN grep Cap /proc/self/status > /out/caps
RUN --network=none cat /proc/net/dev > /out/netdev
"""


@pytest.fixture(scope="module")
def out(
    ocibuild_root: Path, ocibuild_base: str, tmp_path_factory: pytest.TempPathFactory
) -> RootView:
    """The rootfs of the image DOCKERFILE builds, with a host marker file around."""
    del ocibuild_base
    tmp = tmp_path_factory.mktemp("isolation")
    marker = tmp / "host-secret"
    marker.write_text("host only\n")
    ctx = tmp / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(marker=marker))
    result = api.build(ctx, root=ocibuild_root)
    layers = image_state(result.image).layers
    return RootView(Snapshots(tmp / "check").ensure(Store(ocibuild_root), layers))


def _text(view: RootView, path: str) -> str:
    text = view.read_text(path)
    assert text is not None, path
    return text


def test_sees_only_its_own_processes(out: RootView) -> None:
    pids = [int(p) for p in _text(out, "/out/pids").split()]
    assert 1 in pids
    assert len(pids) <= 4, pids  # sh, ls, grep: never the host's
    ps = [int(p) for p in _text(out, "/out/ps").split()[1:]]
    assert 1 in ps
    assert len(ps) <= 4, ps


def test_sees_no_host_mounts(out: RootView) -> None:
    text = _text(out, "/out/mountinfo")
    points = {line.split()[4] for line in text.splitlines()}
    strays = [p for p in points if not any(p == m or p.startswith(m + "/") for m in SANDBOX_MOUNTS)]
    assert strays == []
    assert not any(p.startswith(("/work", "/tmp")) for p in points)


def test_cannot_reach_host_files(out: RootView) -> None:
    assert _text(out, "/out/marker") == "seen /etc/passwd\n"  # the probe itself works


def test_cannot_mount(out: RootView) -> None:
    assert _text(out, "/out/sys") == "refused\n"
    assert _text(out, "/out/tmpfs") == "refused\n"


def test_hostname_is_the_sandboxs(out: RootView) -> None:
    assert _text(out, "/out/hostname") == "buildkitsandbox\n"


def test_capabilities_are_dockers(out: RootView) -> None:
    caps = dict(line.split(":\t") for line in _text(out, "/out/caps").splitlines())
    assert caps["CapBnd"] == DOCKER_CAPS
    assert caps["CapEff"] == DOCKER_CAPS
    assert caps["CapPrm"] == DOCKER_CAPS
    assert caps["CapInh"] == "0000000000000000"


def test_network_none_has_only_lo(out: RootView) -> None:
    lines = _text(out, "/out/netdev").splitlines()[2:]
    assert [line.split(":")[0].strip() for line in lines] == ["lo"]
