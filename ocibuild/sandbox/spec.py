"""What a RUN step executes, and the OCI runtime config.json that says so.

``RunSpec`` is the executor's request: a frozen, JSON-serialisable value
(``to_json``/``from_json``) that can cross a process boundary.
``oci_config(spec)`` turns it into an OCI runtime-spec ``config.json`` dict
with the defaults BuildKit gives a RUN container (observed with the
docker.io 20.10 BuildKit on Debian 12): Docker's default capabilities in the
bounding, effective and permitted sets (no inheritable, no ambient), the
standard /proc /dev /sys mounts, Docker's masked and read-only paths, the six
default devices.  ``write_bundle`` writes it as an OCI bundle.

``RunSpec.overlay`` (an ``Overlay``: lower dirs topmost first, upper, work)
asks the sandbox helper to mount the rootfs itself, inside its own private
mount namespace, so the mount dies with the helper even when the caller is
killed outright.  It is not part of config.json (runtimes would not know
it): ``write_bundle`` writes it beside it as ``overlay.json``, which only
ocibuild's helper reads.

Pure: nothing here touches the system.  Carrying a config out is the
runtimes' business (``ocibuild.sandbox.runtime``); preparing the rootfs and
the /etc files is the executor's.  stdin is always /dev/null and there is
never a terminal, as in a BuildKit RUN.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from ocibuild._record import asdict, field, record

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_HOSTNAME",
    "MASKED_PATHS",
    "READONLY_PATHS",
    "Mount",
    "Network",
    "Overlay",
    "RunSpec",
    "User",
    "oci_config",
    "read_overlay",
    "write_bundle",
]

OCI_VERSION = "1.0.2"
OVERLAY_FILE = "overlay.json"
DEFAULT_HOSTNAME = "buildkitsandbox"
Network = Literal["host", "none"]

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
"""Docker's (containerd's) default capability set, in its order."""

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)
READONLY_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# (path, major, minor): the devices every container gets, as runc's defaults.
_DEVICES: tuple[tuple[str, int, int], ...] = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)
_ETC_OPTIONS = ["rbind", "ro", "nosuid", "nodev", "noexec"]


@record
class User:
    """Numeric identity of the process (names are resolved by the executor)."""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()


@record
class Mount:
    """A mount the step asks for: a bind (also cache dirs) or a tmpfs.

    ``options`` are extra mount options (``size=64m``, ``mode=1777``).
    """

    destination: str
    type: Literal["bind", "tmpfs"] = "bind"
    source: str = ""
    readonly: bool = False
    options: tuple[str, ...] = ()


@record
class Overlay:
    """An overlayfs to mount at the rootfs: host dirs, ``lowers`` topmost first.

    ``upper`` and ``work`` must be on one file system; there must be at
    least one lower (an empty dir will do).
    """

    lowers: tuple[str, ...]
    upper: str
    work: str

    def __post_init__(self) -> None:
        if not self.lowers:
            raise ValueError("an overlay needs at least one lower dir")


@record
class RunSpec:
    """One process to run in a sandbox over ``rootfs`` (a host path).

    ``resolv_conf``, ``hosts`` and ``hostname_file`` are host files the
    executor prepared; each set one is bind-mounted read-only over the
    matching /etc file.  ``no_new_privs`` is False by default because a
    BuildKit RUN does not set it (setuid binaries work there).
    ``nofile`` is the (soft, hard) RLIMIT_NOFILE; None inherits, as BuildKit.
    ``overlay``, when set, is mounted at ``rootfs`` by the sandbox helper.
    """

    argv: tuple[str, ...]
    rootfs: str
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = field(default_factory=User)
    hostname: str = DEFAULT_HOSTNAME
    network: Network = "host"
    mounts: tuple[Mount, ...] = ()
    resolv_conf: str | None = None
    hosts: str | None = None
    hostname_file: str | None = None
    readonly_rootfs: bool = False
    no_new_privs: bool = False
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    nofile: tuple[int, int] | None = None
    overlay: Overlay | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data: dict[str, Any] = asdict(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        """The inverse of ``to_json``."""
        user = data.get("user", {})
        fields: dict[str, Any] = dict(data)
        fields["user"] = User(
            user.get("uid", 0), user.get("gid", 0), tuple(user.get("additional_gids", ()))
        )
        fields["mounts"] = tuple(
            Mount(**{**m, "options": tuple(m.get("options", ()))}) for m in data.get("mounts", ())
        )
        for name in ("argv", "env", "capabilities"):
            if name in fields:
                fields[name] = tuple(fields[name])
        if fields.get("nofile") is not None:
            fields["nofile"] = tuple(fields["nofile"])
        if fields.get("overlay") is not None:
            fields["overlay"] = _overlay_from_json(fields["overlay"])
        return cls(**fields)


def _overlay_from_json(data: dict[str, Any]) -> Overlay:
    return Overlay(tuple(data["lowers"]), data["upper"], data["work"])


def _process(spec: RunSpec) -> dict[str, Any]:
    caps = list(spec.capabilities)
    process: dict[str, Any] = {
        "terminal": False,
        "user": {
            "uid": spec.user.uid,
            "gid": spec.user.gid,
            "additionalGids": list(spec.user.additional_gids),
        },
        "args": list(spec.argv),
        "env": list(spec.env),
        "cwd": spec.cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": spec.no_new_privs,
    }
    if spec.nofile is not None:
        soft, hard = spec.nofile
        process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard}]
    return process


def _standard_mounts() -> list[dict[str, Any]]:
    def mount(dest: str, kind: str, source: str, *options: str) -> dict[str, Any]:
        return {"destination": dest, "type": kind, "source": source, "options": list(options)}

    return [
        mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            *("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
        ),
        mount(
            "/dev/shm",  # noqa: S108 - the container's own /dev/shm
            *("tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        ),
        mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
    ]


def _etc_mounts(spec: RunSpec) -> list[dict[str, Any]]:
    files = (
        ("/etc/resolv.conf", spec.resolv_conf),
        ("/etc/hosts", spec.hosts),
        ("/etc/hostname", spec.hostname_file),
    )
    return [
        {"destination": dest, "type": "bind", "source": src, "options": list(_ETC_OPTIONS)}
        for dest, src in files
        if src is not None
    ]


def _user_mount(mount: Mount) -> dict[str, Any]:
    access = "ro" if mount.readonly else "rw"
    if mount.type == "bind":
        options = ["rbind", access, *mount.options]
        return {"destination": mount.destination, "type": "bind", "source": mount.source,
                "options": options}  # fmt: skip
    options = ["nosuid", "nodev", access, *mount.options]
    return {"destination": mount.destination, "type": "tmpfs", "source": "tmpfs",
            "options": options}  # fmt: skip


def _linux(spec: RunSpec) -> dict[str, Any]:
    kinds = ["pid", "ipc", "uts", "mount"] + (["network"] if spec.network == "none" else [])
    devices = [
        {"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666,
         "uid": 0, "gid": 0}
        for path, major, minor in _DEVICES
    ]  # fmt: skip
    allowed = [
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for _path, major, minor in (*_DEVICES, ("/dev/ptmx", 5, 2))
    ]
    allowed.append({"allow": True, "type": "c", "major": 136, "access": "rwm"})  # pts/*
    return {
        "namespaces": [{"type": kind} for kind in kinds],
        "devices": devices,
        "resources": {"devices": [{"allow": False, "access": "rwm"}, *allowed]},
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }


def oci_config(spec: RunSpec) -> dict[str, Any]:
    """The OCI runtime-spec config.json for ``spec``."""
    return {
        "ociVersion": OCI_VERSION,
        "process": _process(spec),
        "root": {"path": spec.rootfs, "readonly": spec.readonly_rootfs},
        "hostname": spec.hostname,
        "mounts": [
            *_standard_mounts(),
            *_etc_mounts(spec),
            *(_user_mount(m) for m in spec.mounts),
        ],
        "linux": _linux(spec),
    }


def write_bundle(spec: RunSpec, bundle_dir: Path) -> Path:
    """Write ``bundle_dir/config.json`` for ``spec``; returns its path.

    ``root.path`` is the spec's rootfs as given (make it absolute: runtimes
    resolve a relative one against the bundle directory).  The spec's
    overlay, if any, goes to ``bundle_dir/overlay.json``.
    """
    bundle_dir.mkdir(parents=True, exist_ok=True)
    path = bundle_dir / "config.json"
    path.write_text(json.dumps(oci_config(spec), indent=2, sort_keys=True) + "\n")
    if spec.overlay is not None:
        text = json.dumps(asdict(spec.overlay), indent=2, sort_keys=True)
        (bundle_dir / OVERLAY_FILE).write_text(text + "\n")
    return path


def read_overlay(bundle_dir: Path) -> Overlay | None:
    """The overlay ``write_bundle`` put in ``bundle_dir``, if any."""
    try:
        text = (bundle_dir / OVERLAY_FILE).read_text()
    except FileNotFoundError:
        return None
    return _overlay_from_json(json.loads(text))
