"""Saving onto a path without ever destroying what is there first: the whole save is written beside it
(a hidden sibling), then swapped in: what was at the path is renamed aside, the new copy renamed into
place, and only then the old one deleted. Through Hadoop's FileSystem API, so any Hadoop-compatible
path works (renames are atomic on HDFS and local disks; object stores copy, still never deleting first).

A failed save leaves the path as it was; a crash between the two renames leaves both copies beside it
under hidden names. Two saves at once each rename their own copy in; the last one stays.
"""
from __future__ import annotations

import uuid
from typing import Callable

from .hadoop_folder import Storage, qualify

SWAP_ATTEMPTS = 5  # renames lost to another save of the same path before giving up


def save_beside_then_swap(spark, path: str, write: Callable[[str], None], overwrite: bool) -> None:
    """`write(p)` writes the whole save into the new path p; it then replaces `path` (only with overwrite)."""
    parent, name = _split(spark, path)
    storage = Storage(spark, parent)
    if not overwrite and storage.exists(name):
        raise _exists(path)
    staging = f".{name}.sparklong-{uuid.uuid4().hex[:12]}"
    try:
        write(storage.path(staging))
        _swap_in(storage, staging, name, overwrite)
    finally:
        if storage.exists(staging):
            storage.delete(staging)


def _swap_in(storage: Storage, staging: str, name: str, overwrite: bool) -> None:
    aside: list[str] = []
    for attempt in range(SWAP_ATTEMPTS):
        if not storage.exists(staging):  # an overwrite of a folder above deleted it
            raise OSError(f"could not save to {storage.path(name)}: another save deleted the new copy")
        if _rename_into_place(storage, staging, name):
            for old in aside:
                storage.delete(old)
            return
        if not overwrite:
            raise _exists(storage.path(name))
        old = f"{staging}.old{attempt}"
        if _rename(storage, name, old):  # False: another save moved it first
            aside.append(old)
    raise OSError(f"could not save to {storage.path(name)}: other saves kept replacing it; "
                  f"what was there is kept beside it as {', '.join(map(storage.path, aside)) or 'nothing'}")


def _rename_into_place(storage: Storage, staging: str, name: str) -> bool:
    """Rename staging to name unless name exists. Should another save put a folder there between the
    check and the rename, Hadoop moves staging into that folder; that is undone (False)."""
    if not _rename(storage, staging, name):
        return False
    nested = f"{name}/{staging}"
    if storage.exists(nested):
        _rename(storage, nested, staging)  # if that fails, the next attempt finds no staging and says so
        return False
    return True


def _rename(storage: Storage, src: str, dst: str) -> bool:
    """storage.rename; False, not an error, when src has just been moved or deleted by another save.
    The local file system's rename falls back to copying when rename(2) fails (src moved away meanwhile)
    and the copy then finds src gone: FileNotFoundException, even if another save has put a new src
    there since (so an `exists(src)` check afterwards cannot tell)."""
    try:
        return storage.rename(src, dst)
    except Exception as exc:  # Hadoop raises FileNotFoundException for a missing src
        if _java_class(exc) == "java.io.FileNotFoundException" or not storage.exists(src):
            return False
        raise


def _java_class(exc: Exception) -> str:
    """The Java exception class behind a py4j error, or ''."""
    java = getattr(exc, "java_exception", None)
    return str(java.getClass().getName()) if java is not None else ""


def _split(spark, path: str) -> tuple[str, str]:
    """(parent, name) of a path, as Hadoop reads it (local paths, file: URIs and other schemes alike)."""
    hpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(qualify(path))
    parent = hpath.getParent()
    if parent is None:
        raise ValueError(f"cannot save onto {path}: it is the root of its file system")
    return str(parent.toString()), str(hpath.getName())


def _exists(path: str) -> FileExistsError:
    return FileExistsError(f"Path {path} already exists. To overwrite it, use write().overwrite().save(path)")
