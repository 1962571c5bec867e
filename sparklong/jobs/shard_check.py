"""A run's check of the committed shard files, before it plans: the executors read each file whole (every
page's checksum verified where the file has them, every value decoded) and its row index (row_index.py),
and send back one small record per file: its index file, its ids' type, or why it cannot be trusted.

A damaged file (cut, changed, unreadable, its index missing or changed) is never served and never
deleted: the driver moves it to `_damaged/<run>/` (the only copy of those rows stays for the operator)
and the run recomputes its shard's ids from the input like new ones. Index files that no committed file
names (left by killed or speculative attempts, or by shards since rewritten) are removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..storage.output_folder import OutputFolder
from .row_index import INDEX, DamagedShard, index_record, read_row_index

DAMAGED = "_damaged"
CHECK_SCHEMA = pa.schema([("file", pa.string()), ("index", pa.string()), ("id_type", pa.string()),
                          ("error", pa.string())])
_BATCH_ROWS = 4096


@dataclass(frozen=True)
class CheckedShards:
    """What the check found: the files to trust, the damaged ones (name -> reason), the index files the
    trusted ones name, and each id type with the files holding it (Spark's names: bigint, string, ...)."""

    good: list[str]
    damaged: dict[str, str]
    indexes: set[str]
    id_types: dict[str, list[str]]


def check_file(folder: OutputFolder, name: str) -> dict:
    """One committed file, read whole: a CHECK_SCHEMA record (error "" when it can be trusted)."""
    from pyspark.sql.pandas.types import from_arrow_type

    record = {"file": name, "index": "", "id_type": "", "error": ""}
    try:
        with folder.fs.open_input_file(folder.path(name)) as fh:
            data = pq.ParquetFile(fh, page_checksum_verification=True)
            for _ in data.iter_batches(batch_size=_BATCH_ROWS):
                pass
            id_type = from_arrow_type(data.schema_arrow.field("id").type).simpleString()
            index = index_record(data.metadata)
        read_row_index(folder, name)
        record.update(index=(index or {}).get("file", ""), id_type=id_type)
    except DamagedShard as exc:
        record["error"] = exc.reason
    except Exception as exc:  # noqa: BLE001 - any failure to read the file makes it untrusted, by name
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        record["error"] = f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
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
        return CheckedShards([], {}, set(), {})
    names = spark.createDataFrame([(f,) for f in files], "file string")
    names = names.repartition(min(len(files), spark.sparkContext.defaultParallelism * 4))
    records = [r.asDict() for r in names.mapInArrow(file_checker(folder), from_arrow_schema(CHECK_SCHEMA)).collect()]
    good = sorted(r["file"] for r in records if not r["error"])
    id_types: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: r["file"]):
        if not r["error"]:
            id_types.setdefault(r["id_type"], []).append(r["file"])
    return CheckedShards(good, {r["file"]: r["error"] for r in records if r["error"]},
                         {r["index"] for r in records if r["index"] and not r["error"]}, id_types)


def set_aside(folder: OutputFolder, name: str, run: str) -> str:
    """Move a damaged committed file to `_damaged/<run>/` (readers skip it there); its new name."""
    target = f"{DAMAGED}/{run}/{name}"
    folder.mkdirs(f"{DAMAGED}/{run}")
    folder.replace(name, target)
    return target


def remove_unreferenced_indexes(folder: OutputFolder, referenced: set[str]) -> None:
    """Delete the index files that no trusted committed file names."""
    for name in folder.list(INDEX):
        if f"{INDEX}/{name}" not in referenced:
            folder.delete(f"{INDEX}/{name}")
