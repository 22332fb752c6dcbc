"""RunSpec -> OCI config.json, golden-tested in tests/cases/sandbox/*.json.

Regenerate with ``python -m pytest tests/unit/test_sandbox_spec.py
--update-golden`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ocibuild.sandbox
from ocibuild.sandbox import DEFAULT_CAPABILITIES, Mount, RunSpec, User, oci_config, write_bundle

CASES = Path(__file__).resolve().parent.parent / "cases" / "sandbox"

SPECS: dict[str, RunSpec] = {
    "default": RunSpec(argv=("/bin/sh", "-c", "true"), rootfs="/rootfs"),
    "user-network-none": RunSpec(
        argv=("id",),
        rootfs="/rootfs",
        env=("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/app"),
        cwd="/home/app",
        user=User(1000, 1000, (10, 20)),
        hostname="sandbox",
        network="none",
        readonly_rootfs=True,
        no_new_privs=True,
        nofile=(1024, 4096),
    ),
    "etc-and-mounts": RunSpec(
        argv=("make",),
        rootfs="/rootfs",
        resolv_conf="/run/x/resolv.conf",
        hosts="/run/x/hosts",
        hostname_file="/run/x/hostname",
        mounts=(
            Mount("/root/.cache", "bind", "/var/cache/ocibuild/go"),
            Mount("/src", "bind", "/ctx", readonly=True),
            Mount("/tmp", "tmpfs", options=("size=64m",)),
        ),
        capabilities=("CAP_CHOWN",),
    ),
}


def render(spec: RunSpec) -> str:
    return json.dumps(oci_config(spec), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_golden(name: str, request: pytest.FixtureRequest) -> None:
    path = CASES / f"{name}.json"
    actual = render(SPECS[name])
    if request.config.getoption("--update-golden", False):
        path.write_text(actual)
    assert path.is_file(), f"{path} missing; run with --update-golden"
    assert actual == path.read_text()


def test_every_golden_file_has_a_spec() -> None:
    assert sorted(p.stem for p in CASES.glob("*.json")) == sorted(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_json_round_trip(name: str) -> None:
    spec = SPECS[name]
    wire = json.loads(json.dumps(spec.to_json()))
    assert RunSpec.from_json(wire) == spec


def test_default_capabilities_are_dockers_and_not_inheritable() -> None:
    caps = oci_config(SPECS["default"])["process"]["capabilities"]
    assert set(caps) == {"bounding", "effective", "permitted"}
    assert caps["bounding"] == list(DEFAULT_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14


def test_network_namespace_only_when_none() -> None:
    def kinds(spec: RunSpec) -> list[str]:
        return [ns["type"] for ns in oci_config(spec)["linux"]["namespaces"]]

    assert kinds(SPECS["default"]) == ["pid", "ipc", "uts", "mount"]
    assert kinds(SPECS["user-network-none"])[-1] == "network"


def test_mount_order_standard_then_etc_then_user() -> None:
    dests = [m["destination"] for m in oci_config(SPECS["etc-and-mounts"])["mounts"]]
    assert dests == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/hostname",
        "/root/.cache",
        "/src",
        "/tmp",
    ]


def test_readonly_bind_and_etc_are_ro() -> None:
    mounts = {m["destination"]: m for m in oci_config(SPECS["etc-and-mounts"])["mounts"]}
    assert "ro" in mounts["/src"]["options"]
    assert "rw" in mounts["/root/.cache"]["options"]
    assert "ro" in mounts["/etc/hosts"]["options"]
    assert "size=64m" in mounts["/tmp"]["options"]


def test_write_bundle(tmp_path: Path) -> None:
    path = write_bundle(SPECS["default"], tmp_path / "b")
    assert json.loads(path.read_text()) == oci_config(SPECS["default"])


def test_all_matches_public_names() -> None:
    public = {n for n in dir(ocibuild.sandbox) if not n.startswith("_")}
    modules = {"init", "process", "rootfs", "runtime", "spec"}
    assert set(ocibuild.sandbox.__all__) == public - modules - {"annotations"}
