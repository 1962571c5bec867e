"""A run's check of the committed shard files, before it plans: the executors read each file whole (every
page's checksum verified where the file has them, every value decoded) and its row index (row_index.py),
and send back one small record per file: its index file, its ids' type, or why it cannot be trusted.

A damaged file (its bytes: cut, changed, not parquet, its index missing or changed) is never served and
never deleted: the driver moves it and its index to `_damaged/<run>/` (the only copy of those rows
stays for the operator) and the run recomputes its shard's ids from the input like new ones. A file
that cannot be reached (missing, no permission, an I/O error) is not damage: the run fails, naming it.
When half the files or more (two at least) look damaged, the storage is the likelier culprit: the run
refuses and moves nothing. Index files that no trusted committed file names (left by killed or
speculative attempts, or by shards since rewritten) are removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..storage.output_folder import OutputFolder
from .job_error import JobError
from .row_index import INDEX, damage_of, index_of, index_record

DAMAGED = "_damaged"
CHECK_SCHEMA = pa.schema([("file", pa.string()), ("index", pa.string()), ("id_type", pa.string()),
                          ("error", pa.string())])
_BATCH_ROWS = 4096


@dataclass(frozen=True)
class CheckedShards:
    """What the check found: the files to trust, the damaged ones (name -> reason), the index files the
    trusted ones name, each id type with the files holding it (Spark's names: bigint, string, ...), and
    the index file each damaged file names."""

    good: list[str]
    damaged: dict[str, str]
    indexes: set[str]
    id_types: dict[str, list[str]]
    damaged_indexes: dict[str, str]


def check_file(folder: OutputFolder, name: str) -> dict:
    """One committed file, read whole: a CHECK_SCHEMA record (error "" when it can be trusted, else why it
    is damaged); a failure to reach the file is raised, naming it."""
    from pyspark.sql.pandas.types import from_arrow_type

    record = {"file": name, "index": "", "id_type": "", "error": ""}
    try:
        with folder.fs.open_input_file(folder.path(name)) as fh:
            data = pq.ParquetFile(fh, page_checksum_verification=True)
            record["index"] = (index_record(data.metadata) or {}).get("file", "")
            for _ in data.iter_batches(batch_size=_BATCH_ROWS):
                pass
            record["id_type"] = from_arrow_type(data.schema_arrow.field("id").type).simpleString()
            index_of(folder, name, data.metadata)
    except Exception as exc:
        damage = damage_of(name, exc)
        if damage is None:
            raise OSError(f"cannot read {folder.uri(name)}: {exc}") from exc
        record["error"] = damage.reason
    return record


def file_checker(folder: OutputFolder):
    """mapInArrow function: batches of committed file names -> CHECK_SCHEMA records, one per file."""

    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            records = [check_file(folder, name) for name in batch.column("file").to_pylist()]
            if records:
                yield pa.RecordBatch.from_pylist(records, schema=CHECK_SCHEMA)

    return check


def check_shards(spark, folder: OutputFolder, files: list[str]) -> CheckedShards:
    """Every committed file checked by the executors; the driver gets one record per file."""
    from pyspark.sql.pandas.types import from_arrow_schema

    if not files:
        return CheckedShards([], {}, set(), {}, {})
    names = spark.createDataFrame([(f,) for f in files], "file string")
    names = names.repartition(min(len(files), spark.sparkContext.defaultParallelism * 4))
    records = [r.asDict() for r in names.mapInArrow(file_checker(folder), from_arrow_schema(CHECK_SCHEMA)).collect()]
    good = sorted(r["file"] for r in records if not r["error"])
    id_types: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: r["file"]):
        if not r["error"]:
            id_types.setdefault(r["id_type"], []).append(r["file"])
    return CheckedShards(good, {r["file"]: r["error"] for r in records if r["error"]},
                         {r["index"] for r in records if r["index"] and not r["error"]}, id_types,
                         {r["file"]: r["index"] for r in records if r["index"] and r["error"]})


def check_damage_is_plausible(root: str, checked: CheckedShards) -> None:
    """JobError when half the committed files or more (two at least) look damaged: one storage fault
    (a mount, a gateway) is likelier than that many damaged files, and moving them aside would empty
    the output."""
    damaged, files = len(checked.damaged), len(checked.damaged) + len(checked.good)
    if damaged >= 2 and 2 * damaged >= files:
        name, reason = sorted(checked.damaged.items())[0]
        raise JobError(f"{damaged} of the {files} committed files of {root} look damaged (first: {name}: {reason}): "
                       "nothing was moved; check the storage and run again, or pass --overwrite to start again")


def set_aside(folder: OutputFolder, name: str, index: str | None, run: str) -> str:
    """Move a damaged committed file, and the index file it names (evidence too), to `_damaged/<run>/`
    (readers skip it there); its new name."""
    target = f"{DAMAGED}/{run}/{name}"
    folder.mkdirs(f"{DAMAGED}/{run}/{INDEX}")
    folder.replace(name, target)
    if index and folder.exists(index):
        folder.replace(index, f"{DAMAGED}/{run}/{index}")
    return target


def remove_unreferenced_indexes(folder: OutputFolder, referenced: set[str]) -> None:
    """Delete the index files that no trusted committed file names."""
    for name in folder.list(INDEX):
        if f"{INDEX}/{name}" not in referenced:
            folder.delete(f"{INDEX}/{name}")
