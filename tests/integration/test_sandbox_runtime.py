"""The RUN sandbox end to end: the same bundle under every runtime.

Each test gets a fresh overlay over one read-only busybox rootfs (the
session's examples/make-busybox-rootfs.sh image) and runs it with
BuiltinRuntime, runc and crun (those two only when installed; crun on a
hybrid cgroup v1/v2 host runs with the v2 half hidden, see sandbox.init).
After every run no mount may remain below the overlay; the kill tests also
check that no sandbox process survives.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ocibuild._record import replace
from ocibuild.sandbox import (
    BuiltinRuntime,
    RuncRuntime,
    RunSpec,
    Runtime,
    SandboxError,
    User,
    write_bundle,
)
from ocibuild.snapshot.overlay import overlay_mount

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.root

DOCKER_CAPS = "00000000a80425fb"
EXTRA_APPLETS = ("mount", "ip", "ifconfig")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="session")
def base_rootfs(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sandbox-base") / "rootfs"
    root.mkdir()
    with tarfile.open(busybox_rootfs) as tar:
        tar.extractall(root, filter="fully_trusted")
    for applet in EXTRA_APPLETS:
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    return root


def _runtime_problem(name: str) -> str | None:
    if name == "builtin":
        return None
    if shutil.which(name) is None:
        return f"{name} is not installed"
    return None


RUNTIMES = ("builtin", "runc", "crun")


def make_runtime(name: str) -> Runtime:
    return BuiltinRuntime() if name == "builtin" else RuncRuntime(name)


@dataclass
class Sandbox:
    runtime: Runtime
    lower: Path
    upper: Path
    rootfs: Path
    bundle: Path

    def spec(self, script: str, **fields: Any) -> RunSpec:
        spec = RunSpec(argv=("/bin/sh", "-c", script), rootfs=str(self.rootfs), env=(PATH_ENV,))
        return replace(spec, **fields)

    def run(self, script: str, **fields: Any) -> tuple[int, str]:
        write_bundle(self.spec(script, **fields), self.bundle)
        chunks: list[bytes] = []
        code = self.runtime.run(self.bundle, stdout_sink=chunks.append, id=new_id())
        return code, b"".join(chunks).decode()


def new_id() -> str:
    return f"ocibuild-test-{uuid.uuid4().hex[:12]}"


def host_mounts_below(path: Path) -> list[str]:
    prefix = str(path) + "/"
    found = []
    for info in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            lines = info.read_text().splitlines()
        except OSError:
            continue
        found += [line for line in lines if line.split()[4].startswith(prefix)]
    return found


@pytest.fixture(params=RUNTIMES)
def sandbox(request: pytest.FixtureRequest, base_rootfs: Path, tmp_path: Path) -> Iterator[Sandbox]:
    problem = _runtime_problem(request.param)
    if problem is not None:
        pytest.skip(problem)
    upper, work, target = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, target):
        d.mkdir()
    with overlay_mount([base_rootfs], upper, work, target):
        box = Sandbox(make_runtime(request.param), base_rootfs, upper, target, tmp_path / "b")
        yield box
        assert host_mounts_below(target) == []


def test_exit_code_and_streaming(sandbox: Sandbox) -> None:
    arrivals: list[tuple[float, bytes]] = []
    write_bundle(sandbox.spec("echo first; sleep 0.6; echo second >&2; exit 7"), sandbox.bundle)
    code = sandbox.runtime.run(
        sandbox.bundle, stdout_sink=lambda b: arrivals.append((time.monotonic(), b)), id=new_id()
    )
    assert code == 7
    assert b"".join(b for _, b in arrivals) == b"first\nsecond\n"
    first = next(t for t, b in arrivals if b"first" in b)
    second = next(t for t, b in arrivals if b"second" in b)
    assert second - first > 0.3


def test_user_cwd_env_hostname(sandbox: Sandbox) -> None:
    code, out = sandbox.run(
        'id; pwd; echo "$GREETING"; hostname',
        user=User(1000, 1000, (10, 20)),
        cwd="/home/app",
        env=(PATH_ENV, "GREETING=hello world"),
        hostname="box",
    )
    assert code == 0, out
    assert out.splitlines() == ["uid=1000(app) gid=1000(app) groups=10,20", "/home/app",
                                "hello world", "box"]  # fmt: skip


def test_missing_cwd_is_created(sandbox: Sandbox) -> None:
    code, out = sandbox.run("pwd", cwd="/new/work")
    assert (code, out) == (0, "/new/work\n")
    assert (sandbox.upper / "new" / "work").is_dir()


def test_only_sandbox_processes_and_pid_1_is_the_command(sandbox: Sandbox) -> None:
    code, out = sandbox.run("ps -o pid,args; true")
    assert code == 0, out
    rows = [line.split(None, 1) for line in out.splitlines()[1:]]
    assert rows[0] == ["1", "/bin/sh -c ps -o pid,args; true"]
    assert len(rows) == 2  # sh and ps


def test_no_host_mounts_and_read_only_sys(sandbox: Sandbox) -> None:
    code, out = sandbox.run("cat /proc/1/mountinfo")
    assert code == 0, out
    points = {line.split()[4]: line.split()[5] for line in out.splitlines()}
    allowed = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}
    allowed |= {"/proc/acpi", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                "/proc/kcore", "/proc/latency_stats", "/proc/timer_stats", "/proc/scsi",
                "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                "/proc/sysrq-trigger", "/sys/firmware"}  # fmt: skip
    assert set(points) <= allowed
    assert points["/sys"].startswith("ro,")
    assert points["/proc/sys"].startswith("ro,")
    code, out = sandbox.run("touch /sys/x || exit 3")
    assert code == 3


def test_cannot_remount_root(sandbox: Sandbox) -> None:
    code, out = sandbox.run("mount -o remount,rw / && echo remounted")
    assert code != 0 and "remounted" not in out


def test_capabilities_are_dockers(sandbox: Sandbox) -> None:
    code, out = sandbox.run("grep ^Cap /proc/self/status")
    assert code == 0, out
    caps = dict(line.split(":\t") for line in out.splitlines())
    assert caps == {"CapInh": "0" * 16, "CapPrm": DOCKER_CAPS, "CapEff": DOCKER_CAPS,
                    "CapBnd": DOCKER_CAPS, "CapAmb": "0" * 16}  # fmt: skip
    code, out = sandbox.run("grep ^Cap /proc/self/status", user=User(1000, 1000))
    caps = dict(line.split(":\t") for line in out.splitlines())
    assert (caps["CapEff"], caps["CapPrm"], caps["CapBnd"]) == ("0" * 16, "0" * 16, DOCKER_CAPS)


def test_network_none_has_only_loopback_up(sandbox: Sandbox) -> None:
    code, out = sandbox.run("ls /sys/class/net; cat /sys/class/net/lo/operstate", network="none")
    assert code == 0, out
    assert out.split() == ["lo", "unknown"]  # lo is up: UNKNOWN, as in Docker


def test_writes_land_in_the_upper_dir(sandbox: Sandbox) -> None:
    code, out = sandbox.run("echo data > /tmp/new && rm /etc/group && mkdir -p /opt/x")
    assert code == 0, out
    assert (sandbox.upper / "tmp" / "new").read_text() == "data\n"
    assert (sandbox.upper / "opt" / "x").is_dir()
    assert (sandbox.lower / "etc" / "group").exists()
    assert not (sandbox.lower / "tmp" / "new").exists()


def test_read_only_rootfs(sandbox: Sandbox) -> None:
    code, _ = sandbox.run("touch /tmp/x || exit 4", readonly_rootfs=True)
    assert code == 4


def test_missing_executable_is_a_sandbox_error(base_rootfs: Path, tmp_path: Path) -> None:
    spec = RunSpec(argv=("/no/such",), rootfs=str(base_rootfs), env=(PATH_ENV,))
    write_bundle(spec, tmp_path)
    with pytest.raises(SandboxError, match="exec '/no/such'"):
        BuiltinRuntime().run(tmp_path, stdout_sink=lambda b: None, id=new_id())


def mount_types() -> dict[str, str]:
    types = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        types[fields[4]] = fields[fields.index("-", 6) + 1]
    return types


def test_crun_on_a_hybrid_host_leaves_the_host_as_it_was(base_rootfs: Path, tmp_path: Path) -> None:
    if shutil.which("crun") is None:
        pytest.skip("crun is not installed")
    if mount_types().get("/sys/fs/cgroup/unified") != "cgroup2":
        pytest.skip("not a hybrid cgroup v1/v2 host")
    before = mount_types()
    container = new_id()
    spec = RunSpec(argv=("/bin/cat", "/proc/self/cgroup"), rootfs=str(base_rootfs), env=(PATH_ENV,))
    write_bundle(spec, tmp_path)
    chunks: list[bytes] = []
    assert RuncRuntime("crun").run(tmp_path, stdout_sink=chunks.append, id=container) == 0
    assert f"memory:/{container}" in b"".join(chunks).decode()  # placed by the v1 manager
    assert mount_types() == before
    assert list(Path("/sys/fs/cgroup").glob(f"*/{container}")) == []


DRIVER = """
import sys
from pathlib import Path
from ocibuild.sandbox import BuiltinRuntime, RuncRuntime
name, bundle = sys.argv[1], Path(sys.argv[2])
runtime = BuiltinRuntime() if name == "builtin" else RuncRuntime(name)
def sink(b):
    sys.stdout.buffer.write(b)
    sys.stdout.buffer.flush()
runtime.run(bundle, stdout_sink=sink, id=sys.argv[3])
"""


def processes_with(marker: str) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killing_the_caller_leaves_nothing(sandbox: Sandbox, how: signal.Signals) -> None:
    marker = f"{4000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    write_bundle(sandbox.spec(f"sleep {marker} & echo ready; wait"), sandbox.bundle)
    name = "builtin" if isinstance(sandbox.runtime, BuiltinRuntime) else sandbox.runtime.binary  # type: ignore[attr-defined]
    caller = subprocess.Popen(
        [sys.executable, "-c", DRIVER, name, str(sandbox.bundle), new_id()],
        stdout=subprocess.PIPE,
    )
    assert caller.stdout is not None
    assert caller.stdout.readline() == b"ready\n"
    assert processes_with(marker)
    caller.send_signal(how)
    caller.wait(timeout=20)
    caller.stdout.close()
    assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
    assert wait_until(lambda: not host_mounts_below(sandbox.rootfs))
