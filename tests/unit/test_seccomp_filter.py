"""The namespace seccomp filter, run on a small classic-BPF interpreter."""

from __future__ import annotations

import errno
import struct

import pytest

from ocibuild._linux.seccomp import ARCHES, NAMESPACE_FLAGS, namespace_filter

ALLOW = 0x7FFF0000
X86_64, I386, AARCH64 = 0xC000003E, 0x40000003, 0xC00000B7
CLONE_NEWUSER, CLONE_THREAD_FLAGS = 0x10000000, 0x003D0F00


def _run(arch: int, nr: int, arg0: int = 0) -> int:
    """Evaluate the filter on a seccomp_data (nr, arch, ip, args[6])."""
    data = struct.pack("=IIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    program, acc, pc = namespace_filter(), 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x54:
            acc &= k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x45:
            pc += jt if acc & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown instruction {code:#x}")


@pytest.mark.parametrize("arch", [X86_64, I386, AARCH64])
def test_namespace_calls_are_refused_and_others_allowed(arch: int) -> None:
    unshare, setns, clone, clone3 = ARCHES[arch]
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    assert _run(arch, unshare, CLONE_NEWUSER) == eperm
    assert _run(arch, unshare, 0) == eperm
    assert _run(arch, setns) == eperm
    assert _run(arch, clone3) == enosys
    assert _run(arch, clone, CLONE_NEWUSER | 17) == eperm
    for flag in range(32):
        if NAMESPACE_FLAGS & (1 << flag):
            assert _run(arch, clone, 1 << flag) == eperm
    assert _run(arch, clone, CLONE_THREAD_FLAGS) == ALLOW  # pthread_create
    assert _run(arch, clone, 17) == ALLOW  # fork: SIGCHLD
    assert _run(arch, 0) == ALLOW
    assert _run(arch, 59) == ALLOW


def test_x32_numbers_are_caught_and_unknown_arches_allowed() -> None:
    unshare = ARCHES[X86_64][0]
    assert _run(X86_64, unshare | 0x40000000) == 0x00050000 | errno.EPERM
    assert _run(0x12345678, unshare) == ALLOW
