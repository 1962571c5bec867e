"""`_sparklong_job.json`: what an output folder holds (job, input, columns, the ids' type, model and its
version, settings, shard count, rows, each shard's precision: shard_precision.py), written atomically, and
checked by every later run against its own.

A plain rerun must describe the same work. An incremental run may bring another input (path, format,
rows) but the same job, columns, id type, model and settings: anything else needs --overwrite.
"""
from __future__ import annotations

import json

from ..storage.output_folder import OutputFolder
from .job_error import JobError

MANIFEST = "_sparklong_job.json"
FORMAT = 3  # 3: each shard's row index in a file of its own under _index/ (row_index.py), page checksums
READABLE_FORMATS = (2, 3)  # 2: the row index inside each shard file's footer, read as it is
INPUT_KEYS = ("input", "format", "rows")  # what an incremental run may change


def read_job_manifest(folder: OutputFolder) -> dict | None:
    """The manifest, None when the folder has none; a clear error when it cannot be read."""
    if not folder.exists(MANIFEST):
        return None
    try:
        manifest = json.loads(folder.read_bytes(MANIFEST))
        int(manifest["shards"])
        return manifest
    except (ValueError, KeyError, TypeError) as exc:
        raise JobError(f"{folder.uri(MANIFEST)} is not a sparklong job manifest ({type(exc).__name__}: {exc}); "
                       "rerun the job that writes this folder with --overwrite to start again") from exc


def check_manifest(root: str, first: dict, now: dict, incremental: bool) -> None:
    """JobError naming every difference that this kind of run may not make (a readable earlier format
    is no difference: the run rewrites the manifest in its own)."""
    own = ("shards", "id_type") + (("format_version",) if first.get("format_version") in READABLE_FORMATS else ())
    keys = [k for k in now if k not in own and not (incremental and k in INPUT_KEYS)]
    changed = [k for k in keys if first.get(k) != now[k]]
    if not changed:
        return
    was = ", ".join(f"{k}={first.get(k)!r} then, {now[k]!r} now" for k in changed)
    if incremental or set(changed) - set(INPUT_KEYS):
        fix = "pass --overwrite to start again"
    else:
        fix = "pass --incremental to bring it up to date with this input, or --overwrite to start again"
    raise JobError(f"output {root} was started with other inputs ({was}): {fix}")


def check_id_type(root: str, first: dict, now: str, held: dict[str, list[str]]) -> None:
    """JobError when the input's id type (Spark's name) is not the output's: the type the manifest records,
    or for manifests written before it did, the one type its trusted files hold (`held`: type -> files).
    Ids of two types would make files Spark cannot read as one table."""
    if len(held) > 1:
        found = "; ".join(f"{kind} in {len(files)} files (e.g. {files[0]})" for kind, files in sorted(held.items()))
        raise JobError(f"output {root} holds ids of {len(held)} types ({found}): pass --overwrite to start again")
    was = first.get("id_type") or next(iter(held), None)
    if was is not None and was != now:
        raise JobError(f"output {root} holds ids of type {was}; the input's id column is {now}: cast the input's "
                       f"ids to {was}, or pass --overwrite to start again")


def write_manifest(folder: OutputFolder, manifest: dict, scratch: str) -> None:
    folder.write_bytes(MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"), scratch)
