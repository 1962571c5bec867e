"""Which process is which on this machine, from /proc (Linux): the kernel's boot id, this process's pid
namespace, and a process's start time, so that a pid reused by a later process is told apart. The writer
lock (jobs/writer_lock.py) and the private model copies (annotators/private_model_copy.py) judge whether
an owner is still alive with them. Each reads "" / 0 / None where the system has no /proc."""
from __future__ import annotations

import hashlib
import os


def boot_id() -> str:
    """This kernel's boot id, "" where the system has none."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def pid_namespace() -> str:
    """This process's pid namespace ("pid:[4026531836]"), "" where unknown."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_start(pid: int) -> int:
    """When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); 0 when it does
    not exist or the system has no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0
    # field 2, the command name in parentheses, may hold spaces: fields 3.. follow its last ')'
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def machine_tag() -> str | None:
    """The kernel boot and pid namespace this process lives in, as 8 hex digits: processes with equal
    tags see the same process table. None without /proc."""
    boot, namespace = boot_id(), pid_namespace()
    if not boot or not namespace:
        return None
    return hashlib.sha256(f"{boot} {namespace}".encode()).hexdigest()[:8]
