"""A seccomp filter for the code worker: no new processes, no programs, no sockets, no signals to others.

An inner layer under bubblewrap (and the main process guard where bubblewrap is missing). Once the worker has
imported what it needs, it asks the kernel to refuse, for itself and for good:

- new processes (fork, vfork, clone without CLONE_THREAD; threads stay allowed) and running programs (execve),
  so neither a shell nor a fork bomb can start, and no process outlives the worker;
- new sockets of any family (UDP included, which Landlock does not cover) and io_uring (which could do the same
  past this filter);
- signals to any process but itself (`kill(getppid(), 9)`), ptrace and cross-process memory access.

Each refused call fails with EPERM (clone3 with ENOSYS, so that the C library falls back to clone for threads).
Linux on x86_64 and aarch64; elsewhere `forbid()` does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from typing import Any

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_LD_W_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_CLONE_THREAD = 0x00010000
_ARCH_OFFSET, _NR_OFFSET, _ARG0_OFFSET = 4, 0, 16  # struct seccomp_data, little-endian low half of args[0]

# name: (x86_64, aarch64); None where the architecture has no such call.
_SYSCALLS = {
    "fork": (57, None),
    "vfork": (58, None),
    "clone": (56, 220),
    "clone3": (435, 435),
    "execve": (59, 221),
    "execveat": (322, 281),
    "socket": (41, 198),
    "socketpair": (53, 199),
    "io_uring_setup": (425, 425),
    "kill": (62, 129),
    "tkill": (200, 130),
    "tgkill": (234, 131),
    "rt_sigqueueinfo": (129, 138),
    "rt_tgsigqueueinfo": (297, 240),
    "pidfd_open": (434, 434),
    "pidfd_send_signal": (424, 424),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
}
_ARCHES = {
    "x86_64": (0xC000003E, 0),
    "amd64": (0xC000003E, 0),
    "aarch64": (0xC00000B7, 1),
    "arm64": (0xC00000B7, 1),
}
_DENIED = (
    "fork",
    "vfork",
    "execve",
    "execveat",
    "socket",
    "socketpair",
    "io_uring_setup",
    "tkill",
    "pidfd_open",
    "pidfd_send_signal",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
)
_OWN_PID_ONLY = (
    "kill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
)  # first argument: the target process


class _Filter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Filter))]


def _program(arch_id: int, column: int, own_pid: int) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jump-if-true, jump-if-false, k) instructions; jumps count instructions skipped."""
    deny, enosys, allow = (
        (_RET, 0, 0, _ERRNO | errno.EPERM),
        (_RET, 0, 0, _ERRNO | errno.ENOSYS),
        (_RET, 0, 0, _ALLOW),
    )
    number = {name: nr for name, nrs in _SYSCALLS.items() if (nr := nrs[column]) is not None}
    denied = [number[n] for n in _DENIED if n in number]
    own_pid_only = [number[n] for n in _OWN_PID_ONLY]
    # Layout: arch check, number checks, allow; clone's flags check, the signal target check; allow, deny, enosys.
    checks: list[tuple[int, str]] = [(nr, "deny") for nr in denied]
    checks += [(number["clone3"], "enosys"), (number["clone"], "clone")]
    checks += [(nr, "pid") for nr in own_pid_only]
    # Instructions, and placeholders (a name first) for the jumps resolved below once every label is known.
    head: list[tuple[Any, ...]] = [(_LD_W_ABS, 0, 0, _ARCH_OFFSET), ("arch",), (_LD_W_ABS, 0, 0, _NR_OFFSET)]
    if column == 0:  # x32 system calls (numbers with bit 30) reach the same kernel code: refuse them all
        head.append(("x32",))
    body = head + [("check", nr, target) for nr, target in checks] + [allow]
    # Jumps go forward only: the argument checks come next, then the shared return instructions.
    labels = {"clone": len(body), "pid": len(body) + 2}
    labels.update(allow=len(body) + 4, deny=len(body) + 5, enosys=len(body) + 6)
    tail = [
        (_LD_W_ABS, 0, 0, _ARG0_OFFSET),
        ("jset_thread",),
        (_LD_W_ABS, 0, 0, _ARG0_OFFSET),
        ("jeq_pid",),
        allow,
        deny,
        enosys,
    ]
    program = body + tail
    out: list[tuple[int, int, int, int]] = []
    for index, item in enumerate(program):
        if item[0] == "arch":  # another architecture: allow (the numbers below would mean other calls)
            out.append((_JEQ, 0, labels["allow"] - index - 1, arch_id))
        elif item[0] == "x32":
            out.append((_JGE, labels["deny"] - index - 1, 0, 0x40000000))
        elif item[0] == "check":
            out.append((_JEQ, labels[item[2]] - index - 1, 0, item[1]))
        elif item[0] == "jset_thread":  # a thread of this process: allowed; a new process: refused
            out.append((_JSET, labels["allow"] - index - 1, labels["deny"] - index - 1, _CLONE_THREAD))
        elif item[0] == "jeq_pid":  # a signal to this very process (raise(), pthread_kill) is fine
            out.append((_JEQ, labels["allow"] - index - 1, labels["deny"] - index - 1, own_pid))
        else:
            out.append(item)
    return out


def forbid() -> bool:
    """Installs the filter on this process (and any thread it starts). Returns whether it was installed."""
    arch = _ARCHES.get(platform.machine().lower())
    if arch is None or not hasattr(os, "getpid") or os.name != "posix":
        return False
    instructions = _program(arch[0], arch[1], os.getpid())
    if any(not (0 <= jt <= 255 and 0 <= jf <= 255) for _, jt, jf, _ in instructions):
        raise AssertionError("seccomp program jump out of range")
    filters = (_Filter * len(instructions))(*[_Filter(*i) for i in instructions])
    program = _Program(len(instructions), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) == 0
