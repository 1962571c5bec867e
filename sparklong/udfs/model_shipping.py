"""How a model folder reaches executors: the driver ships it once per session as a zip archive
(SparkContext.addArchive; Spark refuses addFile of a local directory on a cluster), each executor
unpacks it under SparkFiles, and the UDF reads that copy. Local mode reads the folder itself.

The archive holds the model's files and its exported ONNX graphs (models/fingerprint.py model_files
with exports), and its name carries their fingerprint: two models, or a folder changed since (new
weights, or a graph exported after a torch-engine stage shipped it), never share a name, so executors
read exactly the files the driver has and never export a graph themselves.

Whether a folder was shipped already is asked of the SparkContext itself (`listArchives`, the
archives it serves): Spark keeps that list per context, so sparklong keeps no state of its own, and a
new session after `stop()` ships again.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import zipfile
from urllib.parse import urlparse

from ..models.fingerprint import fingerprint, model_files


def shipped_name(folder: str) -> str:
    return f"sparklong-{os.path.basename(os.path.realpath(folder))}-{fingerprint(folder, exports=True)}.zip"


def ship_to_executors(spark, folder: str) -> str:
    """Ship the folder to the executors (not in local mode); returns the name the UDF resolves."""
    name = shipped_name(folder)
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return name
    if name not in _archive_names(sc):  # Spark refuses a second archive of the same name
        staging = tempfile.mkdtemp(prefix="sparklong-ship-")
        atexit.register(shutil.rmtree, staging, True)  # Spark serves the file from here until the app ends
        archive = os.path.join(staging, name)
        _zip_folder(folder, archive)
        sc.addArchive(archive)
    return name


def _archive_names(sc) -> set[str]:
    """The file names of the archives this SparkContext ships (its URIs: file:/... or spark://.../files/...)."""
    return {os.path.basename(urlparse(uri).path) for uri in sc.listArchives}


def _zip_folder(folder: str, archive: str) -> None:
    """The model's files and exports under their paths in the folder, stored (weights do not compress)."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in model_files(folder, exports=True):
            zf.write(os.path.join(folder, name), name)


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
