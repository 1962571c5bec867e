"""Where exported graphs live: `<model folder>/onnx/<task>[.float16][.int8].onnx`, each with a JSON
manifest identifying the model files it was exported from.

Inside the model folder, so a saved pipeline (which copies that folder) carries the graph and
executors never export. Exported once per folder: under a file lock (concurrent local workers wait
for one exporter) and atomically (a temp file renamed into place). A graph is current while the
folder's files are those it was exported from (the same fingerprint, or after a copy, which gives
new inodes and mtimes, the same content hash: models/fingerprint.py) and this sparklong and torch
would export the same graph.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid

from .fingerprint import ONNX_DIR, content_hash, fingerprint
from .json_files import read_json_object
from .onnx_export import export_onnx, exporter_id

MANIFEST_FORMAT = 2  # 1 kept per-file stamps and hashes


def onnx_path(folder: str, task: str, quantize: str = "none", dtype: str = "float32") -> str:
    name = task + ("" if dtype == "float32" else f".{dtype}") + ("" if quantize == "none" else f".{quantize}")
    return os.path.join(folder, ONNX_DIR, name + ".onnx")


def manifest_path(graph: str) -> str:
    return graph + ".json"


def read_graph_manifest(graph: str) -> dict | None:
    """The graph's manifest; None when absent, unreadable or malformed (the graph is then exported again)."""
    try:
        return read_json_object(manifest_path(graph))
    except (OSError, ValueError):
        return None


def ensure_onnx(folder: str, task: str, quantize: str = "none", dtype: str = "float32") -> str:
    """The current exported graph of `folder` for these settings, exporting it first when absent or stale."""
    folder = os.path.abspath(folder)
    graph = onnx_path(folder, task, quantize, dtype)
    if _is_current(folder, graph):
        return graph
    try:
        os.makedirs(os.path.dirname(graph), exist_ok=True)
        lock = open(os.path.join(os.path.dirname(graph), ".export.lock"), "a")
    except OSError as exc:
        raise PermissionError(
            f"engine 'onnx' keeps its exported graph in {os.path.dirname(graph)}, which cannot be written "
            f"({exc}); copy the model folder somewhere writable and use that copy"
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be exporting this very graph
        if not _is_current(folder, graph):
            export_onnx(folder, graph, task=task, quantize=quantize, dtype=dtype)
            _write_manifest(graph, {"format": MANIFEST_FORMAT, "exporter": exporter_id(), "task": task,
                                    "quantize": quantize, "dtype": dtype, "bytes": os.path.getsize(graph),
                                    "fingerprint": fingerprint(folder), "content": content_hash(folder)})
    return graph


def _is_current(folder: str, graph: str) -> bool:
    manifest = read_graph_manifest(graph)
    if manifest is None or manifest.get("format") != MANIFEST_FORMAT or not os.path.isfile(graph):
        return False
    if manifest.get("exporter") != exporter_id():  # made by another graph version or torch: export again
        return False
    if manifest.get("fingerprint") == fingerprint(folder):
        return True
    if manifest.get("content") != content_hash(folder):
        return False
    with contextlib.suppress(OSError):  # a copy: same contents, new inodes and mtimes; remember them
        _write_manifest(graph, {**manifest, "fingerprint": fingerprint(folder)})
    return True


def _write_manifest(graph: str, manifest: dict) -> None:
    """Atomically, under a temp name created like any new file (mode 0666 less the umask, as the graph
    itself): mkstemp's 0600 hid the manifest from other users who read the folder, so their
    executors took the graph for stale."""
    tmp = os.path.join(os.path.dirname(graph), f".manifest-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
        os.replace(tmp, manifest_path(graph))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
