"""A job's output folder through pyarrow.fs, the same layer on the driver and in the executors' tasks
(Python workers have no JVM gateway, so Hadoop's FileSystem is out of their reach).

Local and NFS paths and file: URIs use the local file system; other URIs (hdfs:, s3:, gs:, abfs:, ...)
whatever pyarrow.fs.FileSystem.from_uri gives, s3a:/s3n: read as s3:. Names are relative to the folder.

Commits are renames: `replace(src, dst)` is one rename(2) on local disks and NFS (atomic, replacing
dst), a rename on HDFS, and a server-side copy on object stores (the new object appears whole).
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse

import pyarrow.fs as pafs

_ALIASES = {"s3a": "s3", "s3n": "s3"}


def open_folder(root: str) -> tuple[pafs.FileSystem, str]:
    """(file system, path on it) for a local path or URI."""
    parsed = urlparse(root)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme == "file" else root
        return pafs.LocalFileSystem(), os.path.abspath(path)
    scheme = _ALIASES.get(parsed.scheme, parsed.scheme)
    return pafs.FileSystem.from_uri(scheme + root[len(parsed.scheme):])


class OutputFolder:
    """A folder on any pyarrow file system; picklable (tasks reopen it from the root)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") or "/"
        self.fs, self.base = open_folder(self.root)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def __reduce__(self):
        return OutputFolder, (self.root,)

    def path(self, name: str = "") -> str:
        return f"{self.base}/{name}" if name else self.base

    def uri(self, name: str = "") -> str:
        return f"{self.root}/{name}" if name else self.root

    def exists(self, name: str = "") -> bool:
        return self.fs.get_file_info(self.path(name)).type != pafs.FileType.NotFound

    def list(self, name: str = "") -> list[str]:
        """Names in a folder, sorted; [] when it does not exist."""
        info = self.fs.get_file_info(self.path(name))
        if info.type != pafs.FileType.Directory:
            return []
        return sorted(i.base_name for i in self.fs.get_file_info(pafs.FileSelector(self.path(name))))

    def mkdirs(self, name: str = "") -> None:
        self.fs.create_dir(self.path(name), recursive=True)

    def delete(self, name: str) -> None:
        """A file or a whole folder; nothing when it is not there."""
        info = self.fs.get_file_info(self.path(name))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(name))
        elif info.type != pafs.FileType.NotFound:
            self.fs.delete_file(self.path(name))

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_stream(self.path(name)) as fh:
            return fh.read()

    def write_bytes(self, name: str, data: bytes, scratch: str) -> None:
        """Write a whole small file: written under `scratch`, then renamed over `name` (never absent,
        never half written, whatever moment the process dies)."""
        temp = f"{scratch}/{uuid.uuid4().hex}.tmp"
        self.mkdirs(scratch)
        if "/" in name:
            self.mkdirs(name.rsplit("/", 1)[0])
        with self.fs.open_output_stream(self.path(temp)) as fh:
            fh.write(data)
        self.replace(temp, name)

    def replace(self, src: str, dst: str) -> None:
        self.fs.move(self.path(src), self.path(dst))

    def create_new(self, name: str, data: bytes) -> bool:
        """Write `name` only if it does not exist; False when it does. Exclusive on local disks and NFS
        (O_EXCL); elsewhere a check then a write, so two runs racing on an object store may both pass."""
        if self.local:
            try:
                fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return True
        if self.exists(name):
            return False
        with self.fs.open_output_stream(self.path(name)) as fh:
            fh.write(data)
        return True
