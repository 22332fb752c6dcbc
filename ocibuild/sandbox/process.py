"""Builtin runtime, container side: become the OCI ``process`` and exec it.

Runs last in the sandbox's PID 1, after the pivot: sets the host name and
rlimits, brings ``lo`` up in a new network namespace, limits capabilities
(bounding set dropped, effective/permitted set, inheritable cleared), sets
no_new_privs, switches to the user and group ids, changes to ``cwd`` and
execs ``args`` with exactly ``env`` (``args[0]`` looked up on that env's
PATH, as runc does).  Decisions come from the config; this only acts.
"""

from __future__ import annotations

import os
import resource
from typing import Any, NoReturn

from ocibuild._linux import caps, ns, seccomp
from ocibuild._linux.net import set_link_up

__all__ = ["cap_numbers", "exec_process", "prepare_process"]

_RLIMITS = {"RLIMIT_NOFILE": resource.RLIMIT_NOFILE, "RLIMIT_NPROC": resource.RLIMIT_NPROC}


def cap_numbers(names: list[str]) -> set[int]:
    """Numbers of the named capabilities this kernel knows (others dropped)."""
    last = caps.last_cap()
    numbers = {caps.CAPABILITIES[n] for n in names if n in caps.CAPABILITIES}
    return {n for n in numbers if n <= last}


def _limit_capabilities(process: dict[str, Any]) -> None:
    wanted = process.get("capabilities", {})
    bounding = cap_numbers(wanted.get("bounding", []))
    for cap in range(caps.last_cap() + 1):
        if cap not in bounding:
            caps.drop_bounding(cap)


def _switch_user(process: dict[str, Any]) -> None:
    user = process.get("user", {})
    wanted = process.get("capabilities", {})
    caps.set_keepcaps(True)
    os.setgroups(user.get("additionalGids") or [])
    gid, uid = user.get("gid", 0), user.get("uid", 0)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    caps.set_keepcaps(False)
    caps.capset(
        cap_numbers(wanted.get("effective", [])),
        cap_numbers(wanted.get("permitted", [])),
        cap_numbers(wanted.get("inheritable", [])),
    )


def prepare_process(config: dict[str, Any], *, new_network: bool) -> None:
    """Everything between the pivot and the exec, in runc's order."""
    process = config["process"]
    if config.get("hostname"):
        ns.sethostname(config["hostname"])
    if new_network:
        set_link_up("lo")
    for limit in process.get("rlimits", []):
        resource.setrlimit(_RLIMITS[limit["type"]], (limit["soft"], limit["hard"]))
    os.chdir(process.get("cwd", "/"))
    _limit_capabilities(process)
    if process.get("noNewPrivileges", False):
        caps.set_no_new_privs()
    if seccomp.supported():  # before the switch: CAP_SYS_ADMIN is still effective
        seccomp.install(seccomp.namespace_filter())
    _switch_user(process)


def exec_process(config: dict[str, Any]) -> NoReturn:
    """``execvpe`` the config's args with its env (never returns)."""
    process = config["process"]
    args: list[str] = process["args"]
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in process["env"])
    os.execvpe(args[0], args, env)  # noqa: S606 - the container's own argv
