"""A model folder of a stage's own: the files of a folder hard-linked into a driver-local temp folder
(free on one file system; copied across file systems), kept until the process exits.

A stage loaded from a saved pipeline reads its weights from such a copy, never from the saved path:
pyspark's overwrite deletes that path before any stage writes, and a user may move or delete it, but
neither can take away the files the stage holds. Every file written into the model folder later
(an ONNX export, its manifest) is a new file there, so the saved pipeline is never changed through it.

A process removes its copies when it exits (atexit), which a SIGKILL skips. So each copy's folder is
named after its owner, `sparklong-model-<machine>-<pid>-<start>-<random>` (`start`: the process's start
time, field 22 of /proc/<pid>/stat, so a reused pid is told apart; `machine`: the kernel boot and pid
namespace, so a temp folder shared between hosts or containers is never judged by the wrong process
table), and the next process that makes a copy removes the folders of owners that are gone. Without
/proc (not Linux) folders are named `sparklong-model-<random>` and left to atexit.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile

from ..processes import machine_tag, process_start

PREFIX = "sparklong-model-"
# <machine>-<pid>-<start>-<mkdtemp's random part, which holds no "-">
_OWNED = re.compile(re.escape(PREFIX) + r"(?P<machine>[0-9a-f]{8})-(?P<pid>\d+)-(?P<start>\d+)-[^-]+")


def private_folder(name: str) -> str:
    """A new, not yet existing path `<temp>/sparklong-model-*/<name>`, removed when the process exits;
    copies left by killed processes are removed first."""
    machine, start = machine_tag(), process_start(os.getpid())
    prefix = PREFIX
    if machine is not None and start:
        remove_orphans(tempfile.gettempdir(), machine)
        prefix = f"{PREFIX}{machine}-{os.getpid()}-{start}-"
    root = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, root, True)  # executors in local mode read it until the app ends
    return os.path.join(root, name)


def private_copy(folder: str) -> str:
    """A private copy of `folder` (same name, regular files only: symlinks are followed)."""
    target = private_folder(os.path.basename(os.path.normpath(folder)))
    shutil.copytree(folder, target, copy_function=_link_or_copy)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # follows a symlink: the copy links the file it points to
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst)


def remove_orphans(temp: str, machine: str) -> None:
    """Remove the copies in `temp` whose owner, a process of this machine, is no longer running (its pid
    gone, or reused by a process that started at another time). Folders of other machines and of live
    processes stay; one that cannot be removed (another user's) is left as it is."""
    try:
        entries = list(os.scandir(temp))
    except OSError:
        return
    for entry in entries:
        owned = _OWNED.fullmatch(entry.name)
        if owned is None or owned["machine"] != machine or not entry.is_dir(follow_symlinks=False):
            continue
        if process_start(int(owned["pid"])) != int(owned["start"]):
            shutil.rmtree(entry.path, ignore_errors=True)
