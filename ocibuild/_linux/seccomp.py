"""A seccomp filter that keeps RUN from making namespaces, as Docker's profile does.

Docker's default seccomp profile lets ``unshare``, ``setns`` and ``clone``
with namespace flags through only with CAP_SYS_ADMIN, which the default
capability set lacks, and answers ``clone3`` with ENOSYS (so libc falls back
to ``clone``, whose flags a filter can read).  Without it, a RUN step could
``unshare -U`` and hold every capability in a user namespace of its own.
:func:`namespace_filter` writes that part of the profile as classic BPF
(pure, tested); :func:`install` loads it with ``prctl(PR_SET_SECCOMP)``.  The
rest of Docker's profile (keyctl, bpf, perf_event_open, ...) is not applied.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from ocibuild._linux._libc import check, libc

__all__ = ["install", "namespace_filter", "supported"]

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_AND = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_X32_BIT = 0x40000000
#: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000
NAMESPACE_FLAGS |= 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

#: AUDIT_ARCH_* -> syscall numbers of (unshare, setns, clone, clone3).
ARCHES: dict[int, tuple[int, int, int, int]] = {
    0xC000003E: (272, 308, 56, 435),  # x86_64 (x32 too, its bit masked off)
    0x40000003: (310, 346, 120, 435),  # i386
    0xC00000B7: (97, 268, 220, 435),  # aarch64
}
_NATIVE = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

Insn = tuple[int, int, int, int]  # code, jt, jf, k


def _arch_block(nrs: tuple[int, int, int, int]) -> list[Insn]:
    """With the syscall number loaded: refuse namespace calls, allow the rest."""
    unshare, setns, clone, clone3 = nrs
    return [
        (_JEQ, 5, 0, unshare),
        (_JEQ, 4, 0, setns),
        (_JEQ, 5, 0, clone3),
        (_JEQ, 0, 5, clone),
        (_LD_ABS, 0, 0, 16),  # args[0], low 32 bits: the clone flags
        (_JSET, 0, 3, NAMESPACE_FLAGS),
        (_RET, 0, 0, _RET_ERRNO | errno.EPERM),
        (_RET, 0, 0, _RET_ERRNO | errno.EPERM),  # target of the unshare/setns jumps
        (_RET, 0, 0, _RET_ERRNO | errno.ENOSYS),  # clone3
        (_RET, 0, 0, _RET_ALLOW),
    ]


def namespace_filter() -> list[Insn]:
    """The BPF program: per known architecture, the block of :func:`_arch_block`."""
    program: list[Insn] = []
    for arch, nrs in ARCHES.items():
        block = [(_LD_ABS, 0, 0, 0), (_AND, 0, 0, 0xFFFFFFFF & ~_X32_BIT), *_arch_block(nrs)]
        program.extend([(_LD_ABS, 0, 0, 4), (_JEQ, 0, len(block), arch), *block])
    program.append((_RET, 0, 0, _RET_ALLOW))  # an architecture not listed
    return program


def supported() -> bool:
    """Whether this machine's architecture is one the filter knows."""
    return _NATIVE.get(os.uname().machine) in ARCHES


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(program: list[Insn]) -> None:
    """Load ``program`` for the calling thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    raw = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = _SockFprog(len(program), ctypes.cast(buf, ctypes.c_void_p))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "prctl")
