"""A job's output folder through pyarrow.fs, the same layer on the driver and in the executors' tasks
(Python workers have no JVM gateway, so Hadoop's FileSystem is out of their reach).

Local and NFS paths and file: URIs use the local file system; other URIs (hdfs:, s3:, gs:, abfs:, ...)
whatever pyarrow.fs.FileSystem.from_uri gives, s3a:/s3n: read as s3:. Names are relative to the folder.

Commits are renames: `replace(src, dst)` is one rename(2) on local disks and NFS (atomic, replacing
dst), a rename on HDFS, and a server-side copy on object stores (the new object appears whole).
`link_new(src, dst)` is link(2) on local disks and NFS: it fails when dst exists, so one of many
writers racing for a name wins; elsewhere it is a check then a rename, and two may both pass.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
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
        self.write_new(temp, data)
        self.replace(temp, name)

    def replace(self, src: str, dst: str) -> None:
        self.fs.move(self.path(src), self.path(dst))

    def temp_beside(self, name: str) -> str:
        """A unique name next to `name` that readers skip, for a file that becomes `name` by a rename or a
        link (a link needs both names on one file system)."""
        return f"{name}.{uuid.uuid4().hex}.tmp"

    def write_new(self, name: str, data: bytes) -> None:
        """Write a whole file in place (callers pick a name no one else writes)."""
        with self.fs.open_output_stream(self.path(name)) as fh:
            fh.write(data)

    def rewrite(self, name: str, data: bytes) -> None:
        """Replace `name` with `data` whole: written beside, renamed over; the temp file removed whatever
        happens."""
        temp = self.temp_beside(name)
        try:
            self.write_new(temp, data)
            self.replace(temp, name)
        finally:
            self.delete(temp)

    def publish_new(self, name: str, data: bytes) -> bool:
        """Create `name` holding `data` only if it does not exist; False when it does. The content is complete
        before the name appears (written beside, then `link_new`); the temp file is removed whatever happens,
        a write error (a full disk) included, so a failure leaves no `name`."""
        temp = self.temp_beside(name)
        try:
            self.write_new(temp, data)
            return self.link_new(temp, name)
        finally:
            self.delete(temp)

    def link_new(self, src: str, dst: str) -> bool:
        """Make `src`'s file appear as `dst` only if `dst` does not exist; False when it does. Local disks and
        NFS: link(2), exclusive; a link that NFS retried after its first try succeeded reports EEXIST, so
        `src` gaining a link counts as success (the recipe of open(2)'s O_EXCL notes). Elsewhere a check,
        then a rename (src is gone afterwards)."""
        if self.local:
            links = os.stat(self.path(src)).st_nlink
            try:
                os.link(self.path(src), self.path(dst))
            except FileExistsError:
                return os.stat(self.path(src)).st_nlink > links
            return True
        if self.exists(dst):
            return False
        self.replace(src, dst)
        return True

    def read_with_mtime(self, name: str) -> tuple[bytes, int]:
        """A file's bytes and its modification time in ns (stamped by the file system's clock); on local disks
        and NFS both from one open file, so they belong to the same version of a file that renames replace.
        FileNotFoundError when it is not there."""
        if self.local:
            with open(self.path(name), "rb") as fh:
                return fh.read(), os.fstat(fh.fileno()).st_mtime_ns
        info = self.fs.get_file_info(self.path(name))
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(self.uri(name))
        return self.read_bytes(name), info.mtime_ns

    def clock_ns(self, probe: str) -> int:
        """The file system's clock now, in ns: the modification time of an empty file written as `probe` (a
        unique name), then deleted. Compared with other files' times it needs no host's clock."""
        try:
            self.write_new(probe, b"")
            return self.fs.get_file_info(self.path(probe)).mtime_ns
        finally:
            self.delete(probe)


@contextmanager
def naming_the_file(folder: OutputFolder, name: str):
    """An OSError inside the block names the file being written (pyarrow's write errors, a full disk's
    among them, name none)."""
    try:
        yield
    except OSError as exc:
        raise OSError(f"{exc} (writing {folder.uri(name)})") from exc
