"""Shard files, written and committed by the executors' tasks (mapInArrow functions), never the driver.

`part-00003-of-00010.parquet` holds every output row whose id hashes to shard 3, written with a CRC in
every page header (readers that verify them refuse a changed page). Its footer names its row index
(row_index.py): for each row, the id as Spark casts it to a string (the key) and the hash of the input
columns it was computed from, so a later run knows which rows are current.

A task receives one shard's rows to compute (and markers for ids the input lost), streams them to a
file under a name unique to its attempt, appends the rows of the shard's committed file that stay
(their ids neither recomputed nor removed), then renames the file over the committed one: the rename
is the commit. Retried and speculative attempts compute the same rows; whichever renames last wins,
and a reader sees the old file or the new one, never both or a part.

An id may have several rows (embed_corpus --granularity chunks: one per chunk); they share its key and
hash, are replaced or kept together, and the commit record counts ids, not rows.
"""
from __future__ import annotations

import json
import re
import time
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..storage.output_folder import OutputFolder, naming_the_file
from .row_groups import RowGroupWriter
from .row_index import RowIndexWriter, index_of, read_row_index
from .shard_precision import FOOTER_KEY, task_precision
from .writer_lock import check_holder

STAGING = "_staging"
_KEEP_BATCH_ROWS = 4096  # committed rows read at a time while they are copied into the new file
# columns the runner carries through the model pipeline next to the outputs
KEY, HASH, SHARD, DROP = "_sparklong_key", "_sparklong_hash", "_sparklong_shard", "_sparklong_drop"
_NAME = re.compile(r"part-(\d{5})-of-(\d{5})\.parquet")

COMMIT_SCHEMA = pa.schema([
    ("shard", pa.int32()), ("rows", pa.int64()), ("computed", pa.int64()), ("kept", pa.int64()),
    ("removed", pa.int64()), ("tokens", pa.int64()), ("seconds", pa.float64()),
    # the file this commit published ("" when none), its row index, its bytes and Delta stats (delta_shards.py;
    # parquet: 0, "")
    ("file", pa.string()), ("index", pa.string()), ("bytes", pa.int64()), ("stats", pa.string()),
    # the precision the task's model stages computed in (shard_precision.py)
    ("precision", pa.string()),
])
NO_FILE = {"file": "", "index": "", "bytes": 0, "stats": ""}  # a commit record's file fields when no row is left


def shard_file(index: int, shards: int) -> str:
    return f"part-{index:05d}-of-{shards:05d}.parquet"


def shard_of(name: str, shards: int) -> int | None:
    """The shard a committed file name holds, None for other names (or another shard count)."""
    match = _NAME.fullmatch(name)
    return int(match.group(1)) if match and int(match.group(2)) == shards else None


def is_shard_file(name: str) -> bool:
    """Whether `name` is a shard file's name (any shard count)."""
    return _NAME.fullmatch(name) is not None


def run_scratch(run: str) -> str:
    return f"{STAGING}/{run}"


def commits_folder(run: str) -> str:
    return f"{run_scratch(run)}/commits"


def row_index_reader(folder: OutputFolder):
    """mapInArrow function: batches of committed file names -> batches of (key, hash), one per row."""

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for name in batch.column("file").to_pylist():
                keys, hashes = read_row_index(folder, name)
                yield pa.record_batch([keys, hashes], names=[KEY, HASH])

    return read


class ShardWriter:
    """One shard's new file, from the first batch to the commit."""

    def __init__(self, folder: OutputFolder, run: str, shard: int, shards: int, schema: pa.Schema,
                 tokens_column: str | None, attempt: int, started: float, precision: str = ""):
        self.folder, self.shard, self.schema, self.tokens_column = folder, shard, schema, tokens_column
        self.precision = precision  # what the task's model stages compute in ('' without one)
        self.kept_precision = ""  # what the committed file's rows were computed in, by its footer
        self.name = shard_file(shard, shards)
        self.committed = self.committed_file()  # the file whose rows that stay are copied into the new one
        self.temp = self.attempt_file(run, attempt)
        self.run = run
        with naming_the_file(folder, self.temp):
            folder.mkdirs(self.temp.rsplit("/", 1)[0] if "/" in self.temp else "")
            self.stream = folder.fs.open_output_stream(folder.path(self.temp))
            self.writer = RowGroupWriter(self.stream, schema.with_metadata(
                {**(schema.metadata or {}), b"sparklong.shard": f"{shard}/{shards}".encode()}))
        self.index = RowIndexWriter(folder, self.name, attempt, f"{run_scratch(run)}/attempts")
        self.started = started  # when the task began: the model's time for the shard included
        self.replaced: set[str] = set()  # keys this run computed or removed
        self.computed: set[str] = set()  # ids written from this run's rows
        self.kept: set[str] = set()  # ids whose committed rows stay
        self.removed = self.tokens = 0

    def committed_file(self) -> str:
        """The shard's committed file ("" when it has none): parquet's is its fixed name."""
        return self.name

    def attempt_file(self, run: str, attempt: int) -> str:
        """Where this attempt writes: a name unique to it under the run's scratch folder."""
        return f"{run_scratch(run)}/attempts/{self.name}.{attempt}"

    def add(self, batch: pa.RecordBatch) -> None:
        """Rows to compute (their outputs) and removal markers, in any order."""
        with naming_the_file(self.folder, self.temp):
            self._add(batch)

    def _add(self, batch: pa.RecordBatch) -> None:
        self.replaced.update(batch.column(KEY).to_pylist())
        drop = batch.column(DROP)
        self.removed += int(pc.sum(drop).as_py() or 0)  # one marker per id the input lost
        rows = batch.filter(pc.invert(drop))
        self._write(rows, rows.column(KEY), rows.column(HASH))
        self.computed.update(rows.column(KEY).to_pylist())
        if self.tokens_column:
            self.tokens += int(pc.sum(rows.column(self.tokens_column)).as_py() or 0)

    def _write(self, rows, keys: pa.Array, hashes: pa.Array) -> None:
        if rows.num_rows:
            columns = [rows.column(f.name).cast(f.type) for f in self.schema]
            self.writer.write_batch(pa.record_batch(columns, schema=self.schema))
            self.index.add(keys, hashes)

    def _keep_committed(self) -> None:
        """Append the committed file's rows whose ids this run neither recomputed nor removed (its pages'
        checksums verified as they are read). Footer, index and rows come through one open file, so a
        speculative attempt renaming its file over this one meanwhile cannot pair one file's index with
        the other's rows."""
        if not self.committed or not self.folder.exists(self.committed):
            return
        replaced = pa.array(sorted(self.replaced), pa.string())
        with self.folder.fs.open_input_file(self.folder.path(self.committed)) as fh:
            committed = pq.ParquetFile(fh, page_checksum_verification=True)
            keys, hashes = index_of(self.folder, self.committed, committed.metadata)
            self.kept_precision = (committed.metadata.metadata or {}).get(FOOTER_KEY, b"").decode()
            offset = 0
            for batch in committed.iter_batches(batch_size=_KEEP_BATCH_ROWS):
                batch_keys = keys.slice(offset, batch.num_rows)
                keep = pc.invert(pc.is_in(batch_keys, value_set=replaced))
                batch_hashes = hashes.slice(offset, batch.num_rows)
                self._write(batch.filter(keep), batch_keys.filter(keep), batch_hashes.filter(keep))
                self.kept.update(batch_keys.filter(keep).to_pylist())
                offset += batch.num_rows

    def commit(self) -> dict:
        """Close, publish (parquet: rename over the committed file, or delete it when no row is left); the
        commit record, also written under the run's commits folder for the driver's progress lines."""
        with naming_the_file(self.folder, self.temp):
            self._keep_committed()
            self.fence()  # before the index enters _index/, and again below
            # the rows' precision: this task's when it computed any, else that of the rows it kept
            rows_precision = self.precision if self.computed else self.kept_precision
            self.writer.add_key_value_metadata({**self.index.close(), FOOTER_KEY: rows_precision})
            self.writer.close()
            self.stream.close()
        self.fence()
        record = {"shard": self.shard, "rows": len(self.computed) + len(self.kept), "computed": len(self.computed),
                  "kept": len(self.kept), "removed": self.removed, "tokens": self.tokens,
                  "seconds": time.monotonic() - self.started, "precision": self.precision, **self.publish()}
        self.folder.write_bytes(f"{commits_folder(self.run)}/{self.name}.json", json.dumps(record).encode(),
                                f"{run_scratch(self.run)}/tmp")
        return record

    def fence(self) -> None:
        """The executors' fence: nothing committed once another run holds the output's lock."""
        check_holder(self.folder, self.run, self.name)

    def publish(self) -> dict:
        """The commit: the closed attempt file renamed over the shard's file (deleted, with its index, when
        no row is left); the record's file fields."""
        if self.index.rows:
            self.folder.replace(self.temp, self.name)
            return {"file": self.name, "index": self.index.name, "bytes": 0, "stats": ""}
        self.folder.delete(self.name)
        self.folder.delete(self.temp)
        self.folder.delete(self.index.name)
        return NO_FILE


def shard_committer(folder: OutputFolder, run: str, shards: int, schema: pa.Schema, tokens_column: str | None,
                    engines: list[dict], writer_class: type[ShardWriter] = ShardWriter, **writer_args):
    """mapInArrow function over a partition of rows sorted by shard: writes and commits each shard's
    file as its last row has passed (a `writer_class`, given `writer_args` too), and yields its commit
    record (one row of COMMIT_SCHEMA). `engines`: the model stages' engine settings, whose precision in this
    task each record and file carries."""

    def commit(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        started = time.monotonic()
        context = TaskContext.get()
        attempt = context.taskAttemptId() if context is not None else 0
        precision = task_precision(engines)
        writer, done = None, set()
        for batch in batches:
            for shard, rows in _runs_of_shards(batch):
                if writer is not None and writer.shard != shard:
                    done.add(writer.shard)
                    yield _record_batch(writer.commit())
                    writer, started = None, time.monotonic()
                if writer is None:
                    if shard in done:
                        raise RuntimeError(f"shard {shard} came back after its commit: rows must arrive sorted by shard")
                    writer = writer_class(folder, run, shard, shards, schema, tokens_column, attempt, started,
                                          precision, **writer_args)
                writer.add(rows)
        if writer is not None:
            yield _record_batch(writer.commit())

    return commit


def _runs_of_shards(batch: pa.RecordBatch):
    """(shard, rows) for each run of equal shard values in the batch, in order."""
    values = batch.column(SHARD).to_numpy(zero_copy_only=False)
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or values[end] != values[start]:
            yield int(values[start]), batch.slice(start, end - start)
            start = end


def _record_batch(record: dict) -> pa.RecordBatch:
    return pa.record_batch([pa.array([record[f.name]], f.type) for f in COMMIT_SCHEMA], schema=COMMIT_SCHEMA)
