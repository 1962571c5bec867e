"""File operations on any Hadoop-compatible path (local, HDFS, S3A, GCS, ...) through the driver's JVM,
for the jobs' inputs and saved model stages: listing, rename, copies to and from local files. (A
job's output folder is written from the executors too, so it goes through pyarrow.fs: output_folder.py.)

Local paths use Hadoop's raw local file system, so no `.crc` side files appear next to the output.
"""
from __future__ import annotations

import os
from urllib.parse import urlparse


def is_local(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


def local_path(path: str) -> str | None:
    """The file system path of a local path or file: URI; None for other schemes."""
    parsed = urlparse(path)
    if parsed.scheme == "":
        return os.path.abspath(path)
    return parsed.path if parsed.scheme == "file" else None


def qualify(path: str) -> str:
    """Absolute for local paths (relative ones are taken from the current folder); URIs as given."""
    if urlparse(path).scheme == "":
        return os.path.abspath(path)
    return path


class Storage:
    """A folder on a Hadoop-compatible file system; names are relative to it."""

    def __init__(self, spark, root: str):
        self._jvm = spark.sparkContext._jvm
        self.root = qualify(root).rstrip("/") or "/"
        fs = self._hpath(self.root).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        if fs.getScheme() == "file":
            fs = fs.getRawFileSystem()  # LocalFileSystem would write a .crc beside every file
        self._fs = fs

    def path(self, name: str = "") -> str:
        return f"{self.root.rstrip('/')}/{name}" if name else self.root

    def _hpath(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def exists(self, name: str = "") -> bool:
        return bool(self._fs.exists(self._hpath(self.path(name))))

    def is_dir(self, name: str = "") -> bool:
        return self.exists(name) and bool(self._fs.getFileStatus(self._hpath(self.path(name))).isDirectory())

    def list(self, name: str = "") -> list[str]:
        """Names in a folder (files and folders), sorted; [] when it does not exist."""
        if not self.exists(name):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs.listStatus(self._hpath(self.path(name))))

    def file_sizes(self, name: str = "") -> dict[str, int]:
        """Files (not folders) in a folder -> their length in bytes."""
        if not self.exists(name):
            return {}
        statuses = self._fs.listStatus(self._hpath(self.path(name)))
        return {str(s.getPath().getName()): int(s.getLen()) for s in statuses if s.isFile()}

    def mkdirs(self, name: str = "") -> None:
        self._fs.mkdirs(self._hpath(self.path(name)))

    def delete(self, name: str = "") -> None:
        self._fs.delete(self._hpath(self.path(name)), True)

    def rename(self, src: str, dst: str) -> bool:
        """Atomic on HDFS and local disks; False when it did not happen (for example dst exists)."""
        if self.exists(dst):
            return False
        return bool(self._fs.rename(self._hpath(self.path(src)), self._hpath(self.path(dst))))

    def upload(self, local_file: str, name: str) -> None:
        self._fs.copyFromLocalFile(False, True, self._hpath(os.path.abspath(local_file)), self._hpath(self.path(name)))

    def download(self, name: str, local: str) -> None:
        """Copy a file or folder to `local`, a new path on this machine."""
        self._fs.copyToLocalFile(False, self._hpath(self.path(name)), self._hpath(os.path.abspath(local)), True)
