"""RUN's sandbox: what a build step can see of the host, gain, and leave behind.

Each try builds on a fresh store a Dockerfile whose RUN checks the property
from inside (the build fails if the check fails), with something on the
host to look for: a process whose argv holds a random token, a tmpfs
mounted on the canary dir, the canary file.  After the build the host is
checked too: the canary untouched and its token not in the store, no
process of the build left (even one that ``setsid``-ed away), no mount left
under the store, no temp dir left.  Expectations are Docker's (see
tests/integration/test_run_isolation.py): own PID namespace, only the
sandbox's mounts, Docker's 14 default capabilities (``00000000a80425fb``).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from reliability.hostile_kit import Canary, judge, run_measured
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from collections.abc import Callable

    from reliability.env import Env

__all__ = ["TRIALS"]

CATEGORY = "sandbox"
DOCKER_CAPS = "a80425fb"
ALLOWED_MOUNTS = r"/|/proc(/.*)?|/dev(/.*)?|/sys(/.*)?|/etc/hosts|/etc/resolv.conf|/etc/hostname"


def _attempt(env: Env, body: Callable[[Canary, str], str]) -> str | None:
    canary = Canary.make()
    token = secrets.token_hex(8)
    number = str(3000 + secrets.randbelow(6000))  # a sleeper's argument: its token
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", token])
    subprocess.run(["mount", "-t", "tmpfs", "canary", str(canary.empty)], check=True)
    try:
        store = env.new_store("sandbox")
        ctx = store.parent / "ctx"
        ctx.mkdir()
        text = "FROM busybox:latest\n" + body(canary, token).replace("NUMBER", number)
        (ctx / "Dockerfile").write_text(text)
        outcome = run_measured(env, store, "build", "--progress=plain", str(ctx))
        subprocess.run(["umount", str(canary.empty)], check=True)
        problem = judge(outcome, canary, store, built=True) or _leftovers(store, number)
    finally:
        host.kill()
        host.wait()
        subprocess.run(["umount", str(canary.empty)], check=False, capture_output=True)
        canary.remove()
    return problem


def _leftovers(store: Path, number: str) -> str | None:
    """A process, mount or temp dir the build left on the host."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", number.encode()]:
            return f"process {proc.name} ({argv[0]!r} {number}) still runs"
    mounts = [
        line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(store) in line
    ]
    if mounts:
        return f"mount left: {mounts[0].split()[4]}"
    temps = [
        *(store / "ocibuild" / "tmp").glob("*"),
        *(store / "ocibuild" / "snapshots").glob("tmp-*"),
    ]
    return f"temp dir left: {temps[0]}" if temps else None


def _trial(attack: str, body: Callable[[Canary, str], str], held_note: str) -> Trial:
    def run(env: Env, tries: int) -> Result:
        held, failure = 0, ""
        for _ in range(tries):
            problem = _attempt(env, body)
            held += problem is None
            failure = failure or (problem or "")
        return Result(tries, held, f"FAILED: {failure}" if failure else held_note)

    return Trial(CATEGORY, attack, run, 5)


TRIALS = [
    _trial(
        "RUN looks for host processes (ps, /proc) while a host process with a token runs",
        lambda c, token: (
            "RUN test $(ls /proc | grep -cE '^[0-9]+$') -le 4 && test $(ps -o pid | wc -l) -le 5\n"
            f"RUN ! grep -qs '[{token[0]}]{token[1:]}' /proc/*/cmdline\n"
        ),
        "own PID namespace: at most 4 pids seen, the host token never; nothing left",
    ),
    _trial(
        "RUN reads /proc/self/mountinfo while a tmpfs is mounted on the host canary dir",
        lambda c, token: (
            f"RUN ! awk '{{print $5}}' /proc/self/mountinfo | grep -vxE '{ALLOWED_MOUNTS}'\n"
            f"RUN ! grep -q {c.empty} /proc/self/mountinfo\n"
        ),
        "only /, /proc, /dev, /sys and the /etc files are mounted; host mounts unseen",
    ),
    _trial(
        "RUN looks for a host file (its path, /proc/1/root, a search of /)",
        lambda c, token: (
            f"RUN ! test -e {c.file} && ! test -e /proc/1/root{c.file} && "
            f"! grep -rqs '[{c.token.decode()[0]}]{c.token.decode()[1:]}' /etc /tmp /root "
            "/proc/1/root/tmp\n"
        ),
        "host file unseen and unread; its token not in the store",
    ),
    _trial(
        "RUN tries to gain capabilities: CapEff/CapBnd, unshare -U/-m, mount, setuid-root binary",
        lambda c, token: (
            f"RUN grep -q 'CapEff:.*{DOCKER_CAPS}$' /proc/self/status && "
            f"grep -q 'CapBnd:.*{DOCKER_CAPS}$' /proc/self/status\n"
            "RUN ! unshare -m true && ! unshare -U true && ! mount -t tmpfs x /mnt\n"
            "RUN cp /bin/busybox /busybox.suid && chmod 4755 /busybox.suid\n"
            "USER 1000\n"
            "RUN v=$(/busybox.suid awk '/CapEff/ {print $2}' /proc/self/status) && "
            f"test $(( 0x$v & ~0x{DOCKER_CAPS} )) -eq 0\n"
            "USER 0\nRUN ! mknod /d b 254 0 || ! head -c 1 /d\n"
        ),
        "Docker's 14 caps exactly; unshare, mount refused; setuid-root gains nothing; "
        "a block device of the host disk cannot be read",
    ),
    _trial(
        "RUN leaves a setsid'd background sleeper and a nohup'd one behind",
        lambda c, token: "RUN setsid sleep NUMBER & nohup sleep NUMBER >/dev/null 2>&1 & true\n",
        "no process, mount or temp dir left after the build",
    ),
]
