"""A Delta table's data files, written by the executors' tasks (pyarrow only: no deltalake, no JVM).

A task writes each shard it is dealt as shard_files.ShardWriter does (the rows it computed, then the rows of
the shard's current file that stay, its row index under `_index/`), but straight to a name unique to the
run and the attempt at the table's root, `part-00003-of-00010-<run>-<attempt>.parquet`: a file no version
of the table names is invisible to every Delta reader, so no rename is needed (on an object store a rename
is a copy). The task's commit record carries the file's path, size and Delta stats; the driver commits the
records of the attempts Spark kept, all in one transaction (delta_table.py). Files of attempts Spark
discarded (retried, speculative) are deleted by the run after its commit; those of a killed run stay
unreferenced until `vacuum` (no version ever names them).
"""
from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq

from .shard_files import NO_FILE, ShardWriter


class DeltaShardWriter(ShardWriter):
    """One shard's new data file for a Delta table; `committed`: shard -> its file in the version the run
    planned from (the rows that stay are read from there)."""

    def __init__(self, *args, committed: dict[int, str]):
        self.current = committed  # before the base class asks committed_file()
        super().__init__(*args)

    def committed_file(self) -> str:
        """The shard's file in the version the run planned from ("" for a new shard)."""
        return self.current.get(self.shard, "")

    def attempt_file(self, run: str, attempt: int) -> str:
        return f"{self.name.removesuffix('.parquet')}-{run}-{attempt}.parquet"

    def fence(self) -> None:
        """No lock: the driver's one commit decides (another run's commit first makes it fail)."""

    def publish(self) -> dict:
        """The file left where it was written, for the driver to add; deleted with its index when no row is
        left (the shard's old file is then only removed)."""
        if not self.index.rows:
            self.folder.delete(self.temp)
            self.folder.delete(self.index.name)
            return NO_FILE
        with self.folder.fs.open_input_file(self.folder.path(self.temp)) as fh:
            size, metadata = fh.size(), pq.ParquetFile(fh).metadata
        return {"file": self.temp, "index": self.index.name, "bytes": size, "stats": json.dumps(delta_stats(metadata))}


def delta_stats(metadata: pq.FileMetaData) -> dict:
    """A data file's Delta stats from its footer: numRecords, and minValues / maxValues / nullCount of each
    top-level scalar column whose row groups all carry statistics (readers skip files by them)."""
    stats = {"numRecords": metadata.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    leaves = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    for field in metadata.schema.to_arrow_schema():
        if pa.types.is_nested(field.type) or pa.types.is_string(field.type) and field.name != "id":
            continue  # vectors, and long texts: no useful bounds
        columns = [metadata.row_group(g).column(leaves[field.name]).statistics for g in range(metadata.num_row_groups)]
        if not columns or any(c is None or not c.has_min_max or not c.has_null_count for c in columns):
            continue
        if any(isinstance(v, float) and math.isnan(v) for c in columns for v in (c.min, c.max)):
            continue  # JSON has no NaN
        stats["minValues"][field.name] = min(c.min for c in columns)
        stats["maxValues"][field.name] = max(c.max for c in columns)
        stats["nullCount"][field.name] = sum(c.null_count for c in columns)
    return stats
