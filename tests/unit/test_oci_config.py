"""ImageConfig and friends: parsing and BuildKit-shaped canonical JSON."""

from __future__ import annotations

import datetime
import json

import pytest

from ocibuild.oci import (
    ContainerConfig,
    Digest,
    Healthcheck,
    HistoryEntry,
    ImageConfig,
    InvalidDocumentError,
    Platform,
    format_timestamp,
)

# Written by BuildKit (Debian docker.io 20.10) for a small Dockerfile that sets
# every config field; key order is Go's struct order.
BUILDKIT_CONFIG = (
    b'{"architecture":"amd64","config":{"User":"1000","ExposedPorts":{"80/tcp":{}},'
    b'"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1"],'
    b'"Entrypoint":["/bin/busybox"],"Cmd":["sh"],"Volumes":{"/data":{}},"WorkingDir":"/app",'
    b'"Labels":{"x":"y"},"StopSignal":"SIGTERM","Healthcheck":{"Test":["CMD-SHELL","true"],'
    b'"Interval":5000000000},"ArgsEscaped":true,"OnBuild":null,'
    b'"Shell":["/bin/busybox","sh","-c"]},"created":"2026-11-27T20:49:55.023749757Z",'
    b'"history":[{"created":"2026-11-27T20:49:41.586803645Z","comment":"Imported from -"},'
    b'{"created":"2026-11-27T20:49:41.697922295Z","created_by":"ENV A=1",'
    b'"comment":"buildkit.dockerfile.v0","empty_layer":true},'
    b'{"created":"2026-11-27T20:49:55.023749757Z",'
    b'"created_by":"RUN /bin/busybox sh -c echo hi \\u003e f # buildkit",'
    b'"comment":"buildkit.dockerfile.v0"}],"os":"linux","rootfs":{"type":"layers",'
    b'"diff_ids":["sha256:cf81b84d62a9751755a20e5f3886b28e47583c581bac2a3436c3f5a715e0fb5e",'
    b'"sha256:27c0e2f54806f2f7834d402744dcbf570465bce3faece425db0810b403f8b4db"]}}'
)
# FROM scratch + COPY: BuildKit still writes "OnBuild":null.
BUILDKIT_SCRATCH = (
    b'{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:'
    b'/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/","OnBuild":null},'
    b'"created":"2026-11-27T20:49:41.831635692Z","history":[{"created":'
    b'"2026-11-27T20:49:41.831635692Z","created_by":"COPY Dockerfile / # buildkit",'
    b'"comment":"buildkit.dockerfile.v0"}],"os":"linux","rootfs":{"type":"layers",'
    b'"diff_ids":["sha256:b1edfb4f26df036b004d7b234780c9e4659e845e91bffaa63d94e08986d04f52"]}}'
)


@pytest.mark.parametrize("data", [BUILDKIT_CONFIG, BUILDKIT_SCRATCH])
def test_buildkit_configs_round_trip_to_same_fields(data: bytes) -> None:
    config = ImageConfig.from_json(data)
    out = config.to_json()
    assert json.loads(out) == json.loads(data)
    assert out == json.dumps(
        json.loads(data), sort_keys=True, separators=(",", ":")
    ).encode().replace(b">", b"\\u003e")
    assert ImageConfig.from_json(out) == config


def test_parsed_fields() -> None:
    config = ImageConfig.from_json(BUILDKIT_CONFIG)
    c = config.config
    assert c.user == "1000"
    assert c.exposed_ports == ("80/tcp",)
    assert c.env[-1] == "A=1"
    assert (c.entrypoint, c.cmd) == (("/bin/busybox",), ("sh",))
    assert c.volumes == ("/data",)
    assert c.labels == (("x", "y"),)
    assert c.healthcheck == Healthcheck(("CMD-SHELL", "true"), interval=5_000_000_000)
    assert c.args_escaped
    assert config.history[1] == HistoryEntry(
        "2026-11-27T20:49:41.697922295Z", "ENV A=1", "", "buildkit.dockerfile.v0", True
    )
    assert config.diff_ids[0] == Digest(
        "sha256", "cf81b84d62a9751755a20e5f3886b28e47583c581bac2a3436c3f5a715e0fb5e"
    )
    assert config.platform == Platform("linux", "amd64")


def test_minimal_config_omits_empty_fields() -> None:
    out = json.loads(ImageConfig("amd64", "linux").to_json())
    assert out == {
        "architecture": "amd64",
        "os": "linux",
        "config": {"OnBuild": None},
        "rootfs": {"type": "layers", "diff_ids": []},
    }


def test_all_fields_written() -> None:
    config = ImageConfig(
        architecture="arm",
        os="linux",
        variant="v7",
        os_version="1",
        os_features=("f",),
        created="2024-01-01T00:00:00Z",
        author="me",
        config=ContainerConfig(
            on_build=("RUN x",),
            healthcheck=Healthcheck(("NONE",), 1, 2, 3, 4, 5),
            stop_signal="SIGKILL",
        ),
        history=(HistoryEntry(author="a"),),
    )
    out = json.loads(config.to_json())
    assert out["variant"] == "v7" and out["os.version"] == "1" and out["os.features"] == ["f"]
    assert out["author"] == "me" and out["created"] == "2024-01-01T00:00:00Z"
    assert out["config"]["OnBuild"] == ["RUN x"]
    assert out["config"]["Healthcheck"] == {
        "Test": ["NONE"],
        "Interval": 1,
        "Timeout": 2,
        "StartPeriod": 3,
        "StartInterval": 4,
        "Retries": 5,
    }
    assert out["history"] == [{"author": "a"}]
    assert ImageConfig.from_json(config.to_json()) == config


def test_unknown_fields_are_dropped() -> None:
    data = b'{"architecture":"amd64","os":"linux","docker_version":"20.10","container_config":{},'
    data += (
        b'"config":{"Hostname":"","Env":null,"Cmd":null},"rootfs":{"type":"layers","diff_ids":[]}}'
    )
    out = json.loads(ImageConfig.from_json(data).to_json())
    assert "docker_version" not in out and "container_config" not in out
    assert out["config"] == {"OnBuild": None}


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"not json",
        b'{"rootfs":{"diff_ids":["sha256:nope"]}}',
        b'{"history":{}}',
        b'{"config":{"Env":"x"}}',
        b'{"config":{"Labels":[]}}',
        b'{"config":{"Healthcheck":{"Retries":"3"}}}',
    ],
)
def test_invalid_configs(data: bytes) -> None:
    with pytest.raises(InvalidDocumentError):
        ImageConfig.from_json(data)


def test_format_timestamp() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00Z"
    assert format_timestamp(1.5) == "1970-01-01T00:00:01.5Z"
    when = datetime.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert format_timestamp(when) == "2024-01-02T01:04:05Z"
