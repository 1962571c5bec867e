"""How a model folder reaches executors: the driver ships it once per session as a zip archive
(SparkContext.addArchive; Spark refuses addFile of a local directory on a cluster), each executor
unpacks it under SparkFiles, and the UDF reads that copy. Local mode reads the folder itself.

The archive's name carries a hash of the folder's path and weights' state, so two models (or a
changed folder) never share a name, and executors read exactly the bytes the driver has.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import zipfile

from .model_cache import model_id


def shipped_name(folder: str) -> str:
    digest = hashlib.sha1(model_id(folder).encode("utf-8")).hexdigest()[:16]
    return f"sparklong-{os.path.basename(os.path.realpath(folder))}-{digest}.zip"


def ship_to_executors(spark, folder: str) -> str:
    """Ship the folder to the executors (not in local mode); returns the name the UDF resolves."""
    name = shipped_name(folder)
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return name
    shipped = getattr(sc, "_sparklong_shipped", set())
    if name not in shipped:
        staging = tempfile.mkdtemp(prefix="sparklong-ship-")
        atexit.register(shutil.rmtree, staging, True)  # Spark serves the file from here until the app ends
        archive = os.path.join(staging, name)
        _zip_folder(folder, archive)
        sc.addArchive(archive)
        shipped.add(name)
        sc._sparklong_shipped = shipped
    return name


def _zip_folder(folder: str, archive: str) -> None:
    """The folder's files at the archive's top level, stored (weights do not compress)."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for root, _, files in os.walk(folder):
            for file in sorted(files):
                path = os.path.join(root, file)
                zf.write(path, os.path.relpath(path, folder))


def resolve_model_folder(path: str, name: str) -> str:
    """On a worker: the shipped copy when there is one, else the path itself (local mode, or a path
    every node sees, such as a saved pipeline's)."""
    from pyspark import SparkFiles

    try:
        shipped = SparkFiles.get(name)
    except Exception:  # noqa: BLE001 - no SparkFiles root outside a Spark worker
        shipped = None
    if shipped and os.path.isdir(shipped):
        return shipped
    if os.path.isdir(path):
        return path
    raise FileNotFoundError(f"model folder {path} is not visible on this worker and was not shipped ({name})")
