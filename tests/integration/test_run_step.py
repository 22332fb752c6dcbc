"""RUN through ocibuild.api.build as root, on the shared busybox base.

Results are read back from the stored blobs (unpacked into a fresh snapshot
dir) and from the layer tars themselves (whiteouts).  Expectations were
checked against Docker 20.10's BuildKit on this machine, except heredoc RUN
and RUN --network (20.10 has neither; they follow current BuildKit).
"""

from __future__ import annotations

import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.errors import StepFailed
from ocibuild.executor.base import image_state
from ocibuild.layer import open_layer_tar
from ocibuild.snapshot import RootView, Snapshots
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor import BuildResult

pytestmark = pytest.mark.root


class Builder:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.tmp, self.store = root, tmp, Store(root)
        self.output = bytearray()

    def build(self, dockerfile: str, **kwargs: object) -> BuildResult:
        ctx = self.tmp / "ctx"
        ctx.mkdir(exist_ok=True)
        (ctx / "Dockerfile").write_text(dockerfile)
        return api.build(ctx, root=self.root, run_output=self.output.extend, **kwargs)  # type: ignore[arg-type]

    def rootfs(self, result: BuildResult) -> RootView:
        layers = image_state(result.image).layers
        check = Snapshots(self.tmp / f"check-{result.manifest.digest.hex[:12]}")
        return RootView(check.ensure(self.store, layers))

    def top_layer(self, result: BuildResult) -> dict[str, tarfile.TarInfo]:
        blob = image_state(result.image).layers[-1]
        with tarfile.open(fileobj=open_layer_tar(self.store, blob.descriptor), mode="r|") as tar:
            return {m.name.rstrip("/"): m for m in tar}

    def text(self, result: BuildResult, path: str) -> str:
        text = self.rootfs(result).read_text(path)
        assert text is not None, path
        return text


@pytest.fixture
def b(ocibuild_root: Path, ocibuild_base: str, tmp_path: Path) -> Builder:
    del ocibuild_base
    return Builder(ocibuild_root, tmp_path)


def test_run_creates_files_and_history(b: Builder) -> None:
    result = b.build("FROM busybox:latest\nRUN mkdir /made && echo hi > /made/f && echo done\n")
    assert b.text(result, "/made/f") == "hi\n"
    assert b"done\n" in b.output
    last = result.image.config.history[-1]
    assert (
        last.created_by == "RUN /bin/sh -c mkdir /made && echo hi > /made/f && echo done # buildkit"
    )
    assert not last.empty_layer
    names = set(b.top_layer(result))
    assert {"made", "made/f"} <= names
    assert not names & {"proc", "dev", "sys", "etc/hosts", "etc/resolv.conf", "etc/hostname"}


def test_run_true_adds_a_layer(b: Builder) -> None:
    base = image_state(b.store.image("busybox:latest")).layers
    result = b.build("FROM busybox:latest\nRUN true\n")
    assert len(image_state(result.image).layers) == len(base) + 1


def test_run_deletes_and_replaces_lower_entries(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest\n"
        "RUN rm /etc/group && rm -rf /home/app && rm -rf /var && echo f > /var\n"
    )
    layer = b.top_layer(result)
    assert "etc/.wh.group" in layer
    assert "home/.wh.app" in layer
    assert layer["var"].isfile()
    view = b.rootfs(result)
    assert view.lstat("/etc/group") is None
    assert view.lstat("/home/app") is None
    assert b.text(result, "/var") == "f\n"
    assert view.lstat("/etc/passwd") is not None


def test_run_chmod_chown_of_lower_files(b: Builder) -> None:
    result = b.build("FROM busybox:latest\nRUN chmod 600 /etc/passwd && chown 1000:1000 /tmp\n")
    layer = b.top_layer(result)
    assert layer["etc/passwd"].mode & 0o7777 == 0o600
    assert (layer["tmp"].uid, layer["tmp"].gid) == (1000, 1000)
    assert layer["tmp"].mode & 0o7777 == 0o1777


def test_user_switches(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest\n"
        "RUN echo 'g1:x:500:nobody' >> /etc/group\n"
        "USER nobody\nRUN id > /tmp/a\n"
        "USER 1234\nRUN id > /tmp/b; echo $HOME >> /tmp/b\n"
        "USER 1234:55\nRUN id > /tmp/c\n"
        "USER app:nogroup\nRUN id > /tmp/d\n"
    )
    assert b.text(result, "/tmp/a") == "uid=65534(nobody) gid=65534(nogroup) groups=500(g1)\n"
    assert b.text(result, "/tmp/b") == "uid=1234 gid=0(root)\n/\n"
    assert b.text(result, "/tmp/c") == "uid=1234 gid=55\n"
    assert b.text(result, "/tmp/d") == "uid=1000(app) gid=65534(nogroup)\n"


def test_workdir_shell_env_and_args(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest\nARG A=1\nARG B\nARG C=c\nENV C=envc E=e\nWORKDIR /w/x\n"
        'SHELL ["/bin/sh", "-ec"]\n'
        "RUN pwd > out; env | sort > env; echo $- > flags\n",
        build_args={"B": "bee", "HTTP_PROXY": "http://p:1"},
    )
    assert b.text(result, "/w/x/out") == "/w/x\n"
    env = b.text(result, "/w/x/env").splitlines()
    for line in ("A=1", "B=bee", "C=envc", "E=e", "HOME=/root", "HTTP_PROXY=http://p:1"):
        assert line in env
    assert "http_proxy=http://p:1" in env
    assert "e" in b.text(result, "/w/x/flags")
    assert result.image.config.config.env == (
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "C=envc",
        "E=e",
    )
    created_by = result.image.config.history[-1].created_by
    assert created_by.startswith("RUN |3 A=1 B=bee C=envc /bin/sh -ec pwd > out;")


def test_exec_form_history(b: Builder) -> None:
    result = b.build('FROM busybox:latest\nRUN ["/bin/sh", "-c", "echo x > /x"]\n')
    assert result.image.config.history[-1].created_by == "RUN /bin/sh -c echo x > /x # buildkit"


def test_failure_message_tail_and_nothing_tagged(b: Builder) -> None:
    mounts_before = _overlay_mounts()
    tmp_before = set((b.store.snapshots_dir).iterdir())
    with pytest.raises(StepFailed) as info:
        b.build("FROM busybox:latest\nRUN echo out; exit 3\n", tags=["failed-run:x"])
    err = info.value
    assert str(err).endswith("executor failed running [/bin/sh -c echo out; exit 3]: exit code: 3")
    assert err.span is not None and err.span.first_line == 2
    assert err.output_tail == "out"
    with pytest.raises(Exception, match="failed-run"):
        b.store.image("failed-run:x")
    assert _overlay_mounts() == mounts_before
    assert set(b.store.snapshots_dir.iterdir()) == tmp_before


def test_heredoc_run_script_and_shebang(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest\n"
        "RUN <<EOF\necho one > /one\necho two >> /one\nEOF\n"
        "RUN <<EOF\n#!/bin/sh -e\necho $0 > /two\nEOF\n"
        "RUN cat <<A > /three\nbody\nA\n"
    )
    assert b.text(result, "/one") == "one\ntwo\n"
    assert b.text(result, "/two") == "/dev/pipes/EOF\n"
    assert b.text(result, "/three") == "body\n"
    assert not b.top_layer(result).keys() & {"dev/pipes", "dev/pipes/EOF"}


def test_network_none_sees_only_lo(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest\nRUN --network=none ls /sys/class/net > /none\n"
        "RUN ls /sys/class/net > /host\n"
    )
    assert b.text(result, "/none") == "lo\n"
    assert len(b.text(result, "/host").split()) >= 1


@pytest.mark.parametrize("runtime", ["runc"])
def test_other_runtime(b: Builder, runtime: str) -> None:
    result = b.build("FROM busybox:latest\nUSER nobody\nRUN id > /tmp/id\n", runtime=runtime)
    assert b.text(result, "/tmp/id") == "uid=65534(nobody) gid=65534(nogroup)\n"


def _overlay_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if " overlay " in line]


def test_modules_in_the_working_directory_do_not_reach_the_sandbox_helper(
    b: Builder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper runs with -P: a json.py (or any stdlib name) where the user
    stands is not imported in place of the standard library's."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name in ("json", "signal", "ocibuild"):
        (cwd / f"{name}.py").write_text("raise SystemExit('shadowed')\n")
    monkeypatch.chdir(cwd)
    result = b.build(f"FROM busybox:latest\nRUN echo {tmp_path.name} > /seen\n")
    assert b.text(result, "/seen") == f"{tmp_path.name}\n"
