"""A shard file's row index: for each row of the file, in row order, its key (the id as Spark casts it to a
string) and the content hash of the input it was computed from, so a later run knows which rows are current.

The index is a parquet file of its own, `_index/<shard file>.<attempt tag>.parquet` (columns key, hash),
written before its shard file and named in that file's footer (`sparklong.row_index`: its name, SHA-256
and row count). The rename that commits a shard file so commits its index too; the footer stays a few
hundred bytes whatever the shard's size (an index inside the footer outgrew thrift's limit at ~2 million
ids); and an index that does not match its record (changed, cut, missing, another row count) is refused.

Files written before keep their index inside the footer (`sparklong.rows`, JSON); they are read as they are.
Index files no committed shard names are removed by the next run (shard_check.unreferenced_indexes).
"""
from __future__ import annotations

import hashlib
import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from ..storage.output_folder import OutputFolder, naming_the_file

INDEX = "_index"
INDEX_KEY = b"sparklong.row_index"
FOOTER_INDEX_KEY = b"sparklong.rows"  # the index inside the footer, as files written before carry it
INDEX_SCHEMA = pa.schema([("key", pa.string()), ("hash", pa.string())])
_CHUNK = 1 << 20


class DamagedShard(Exception):
    """A committed shard file (or its index) that cannot be trusted: `name` and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def file_sha256(folder: OutputFolder, name: str) -> str:
    digest = hashlib.sha256()
    with folder.fs.open_input_stream(folder.path(name)) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class RowIndexWriter:
    """One shard attempt's index file, streamed batch by batch next to the shard file's rows into the
    attempt's scratch folder, and moved to `_index/` when it is complete (an attempt that dies leaves it in
    the scratch folder, which the run removes)."""

    def __init__(self, folder: OutputFolder, shard_name: str, attempt: int, scratch: str):
        self.folder = folder
        base = f"{shard_name}.{attempt}-{uuid.uuid4().hex[:8]}.parquet"
        self.name, self._temp = f"{INDEX}/{base}", f"{scratch}/{base}"
        with naming_the_file(folder, self._temp):
            folder.mkdirs(INDEX)
            folder.mkdirs(scratch)
            self._stream = folder.fs.open_output_stream(folder.path(self._temp))
            self._writer = pq.ParquetWriter(self._stream, INDEX_SCHEMA, write_page_checksum=True)
        self.rows = 0

    def add(self, keys: pa.Array, hashes: pa.Array) -> None:
        if len(keys):
            with naming_the_file(self.folder, self._temp):
                self._writer.write_batch(pa.record_batch([keys.cast(pa.string()), hashes.cast(pa.string())],
                                                         schema=INDEX_SCHEMA))
            self.rows += len(keys)

    def close(self) -> dict[bytes, str]:
        """Close the file and move it to `_index/`; the footer entry that names it (for the shard file's
        key-value metadata)."""
        with naming_the_file(self.folder, self._temp):
            self._writer.close()
            self._stream.close()
        record = {"file": self.name, "sha256": file_sha256(self.folder, self._temp), "rows": self.rows}
        self.folder.replace(self._temp, self.name)
        return {INDEX_KEY: json.dumps(record)}


def index_record(metadata: pq.FileMetaData) -> dict | None:
    """The index file a shard file's footer names ({file, sha256, rows}); None for a footer without one."""
    raw = (metadata.metadata or {}).get(INDEX_KEY)
    return None if raw is None else json.loads(raw)


def read_row_index(folder: OutputFolder, name: str) -> tuple[pa.Array, pa.Array]:
    """(keys, hashes) of a committed file, row by row (string arrays; empty for a file without an index);
    DamagedShard when the file's footer or its index cannot be read or does not match."""
    try:
        with folder.fs.open_input_file(folder.path(name)) as fh:
            metadata = pq.ParquetFile(fh).metadata
        record = index_record(metadata)
        if record is None:
            return _footer_index(metadata)
        return _index_file(folder, record, metadata.num_rows)
    except DamagedShard:
        raise
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise DamagedShard(name, _reason(exc)) from exc


def _footer_index(metadata: pq.FileMetaData) -> tuple[pa.Array, pa.Array]:
    raw = (metadata.metadata or {}).get(FOOTER_INDEX_KEY)
    if raw is None:
        return pa.array([], pa.string()), pa.array([], pa.string())
    index = json.loads(raw)
    return pa.array(index["keys"], pa.string()), pa.array(index["hashes"], pa.string())


def _index_file(folder: OutputFolder, record: dict, rows: int) -> tuple[pa.Array, pa.Array]:
    name = record["file"]
    if not folder.exists(name):
        raise ValueError(f"its row index {name} is missing")
    if file_sha256(folder, name) != record["sha256"]:
        raise ValueError(f"its row index {name} was changed after it was written (SHA-256 differs)")
    with folder.fs.open_input_file(folder.path(name)) as fh:
        table = pq.ParquetFile(fh, page_checksum_verification=True).read()
    if table.num_rows != rows or record["rows"] != rows:
        raise ValueError(f"its row index {name} has {table.num_rows} rows for {rows} rows of data")
    return table.column("key").combine_chunks(), table.column("hash").combine_chunks()


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
