"""Where exported graphs live: `<model folder>/onnx/<task>[.float16][.int8].onnx`, each with a JSON
manifest naming the model files it was exported from.

Inside the model folder, so a saved pipeline (which copies that folder) carries the graph and
executors never export. Exported once per folder: under a file lock (concurrent local workers wait
for one exporter) and atomically (a temp file renamed into place). A graph is current while the
folder's config and weights are those it was exported from (same sizes and mtimes, or, after a
copy changed the mtimes, the same SHA-256) and this sparklong and torch would export the same graph.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile

from .json_files import read_json_object
from .onnx_export import export_onnx, exporter_id

ONNX_DIR = "onnx"
MANIFEST_FORMAT = 1


def source_files(folder: str) -> list[str]:
    """The model's own files (config, weights, tokenizer): top-level regular files, exports excluded."""
    return sorted(f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f)) and not f.startswith("."))


def onnx_path(folder: str, task: str, quantize: str = "none", dtype: str = "float32") -> str:
    name = task + ("" if dtype == "float32" else f".{dtype}") + ("" if quantize == "none" else f".{quantize}")
    return os.path.join(folder, ONNX_DIR, name + ".onnx")


def manifest_path(graph: str) -> str:
    return graph + ".json"


def read_manifest(graph: str) -> dict | None:
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
                                    "files": _stamps(folder), "sha256": _hashes(folder)})
    return graph


def _is_current(folder: str, graph: str) -> bool:
    manifest = read_manifest(graph)
    if manifest is None or manifest.get("format") != MANIFEST_FORMAT or not os.path.isfile(graph):
        return False
    if manifest.get("exporter") != exporter_id():  # made by another graph version or torch: export again
        return False
    if manifest.get("files") == _stamps(folder):
        return True
    if manifest.get("sha256") != _hashes(folder):
        return False
    with contextlib.suppress(OSError):  # a copy: same contents, new mtimes; remember them
        _write_manifest(graph, {**manifest, "files": _stamps(folder)})
    return True


def _stamps(folder: str) -> dict[str, list[int]]:
    return {f: [(st := os.stat(os.path.join(folder, f))).st_size, st.st_mtime_ns] for f in source_files(folder)}


def _hashes(folder: str) -> dict[str, str]:
    out = {}
    for name in source_files(folder):
        digest = hashlib.sha256()
        with open(os.path.join(folder, name), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        out[name] = digest.hexdigest()
    return out


def _write_manifest(graph: str, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=os.path.dirname(graph))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
    os.replace(tmp, manifest_path(graph))
