"""A shard file's row index: for each row of the file, in row order, its key (the id as Spark casts it to a
string) and the content hash of the input it was computed from, so a later run knows which rows are current.

The index is a parquet file of its own, `_index/<shard file>.<attempt tag>.parquet` (columns key, hash),
written before its shard file and named in that file's footer (`sparklong.row_index`: its name, SHA-256
and row count). The rename that commits a shard file so commits its index too; the footer stays a few
hundred bytes whatever the shard's size (an index inside the footer outgrew thrift's limit at ~2 million
ids); and an index that does not match its record (changed, cut, missing, another row count) is refused.

Files written before keep their index inside the footer (`sparklong.rows`, JSON); they are read as they are.
Index files no committed shard names are removed by the next run (shard_check.remove_unreferenced_indexes).

Damage is what a file's bytes show (a failed checksum, a cut file, bytes that do not parse, an index that
does not match its record): DamagedShardError. A failure to read at all (no such file, no permission, an
I/O error) is not damage: it is raised as it is, naming the file, and fails the run.
"""
from __future__ import annotations

import hashlib
import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from ..storage.output_folder import OutputFolder, naming_the_file
from .row_groups import RowGroupWriter

INDEX = "_index"
INDEX_KEY = b"sparklong.row_index"
FOOTER_INDEX_KEY = b"sparklong.rows"  # the index inside the footer, as files written before carry it
INDEX_SCHEMA = pa.schema([("key", pa.string()), ("hash", pa.string())])
_CHUNK = 1 << 20
# how pyarrow words errors that come from a file's bytes (as opposed to reaching the file)
CORRUPT_BYTES = ("checksum", "crc", "corrupt", "magic bytes", "thrift", "deserialize", "unexpected end",
                  "decompress", "out of bounds", "size limit")


class DamagedShardError(Exception):
    """A committed shard file (or its index) whose bytes cannot be trusted: `name` and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def reason_of(exc: BaseException) -> str:
    """An exception as one short line: its class and its message's first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def damage_of(name: str, exc: BaseException) -> DamagedShardError | None:
    """`exc`, raised while reading file `name`, as damage when the file's bytes caused it; None when it
    is a failure to reach the file (missing, permissions, I/O), which is no evidence against the file."""
    if isinstance(exc, DamagedShardError):
        return exc
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return None
    corrupt = isinstance(exc, (pa.ArrowInvalid, ValueError, KeyError, TypeError)) or (
        isinstance(exc, OSError) and any(text in str(exc).lower() for text in CORRUPT_BYTES))
    return DamagedShardError(name, reason_of(exc)) if corrupt else None


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
            self._writer = RowGroupWriter(self._stream, INDEX_SCHEMA)
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
    DamagedShardError when its footer or its index is damaged, other errors as raised."""
    try:
        with folder.fs.open_input_file(folder.path(name)) as fh:
            metadata = pq.ParquetFile(fh).metadata
    except Exception as exc:
        raise damage_of(name, exc) or exc
    return index_of(folder, name, metadata)


def index_of(folder: OutputFolder, name: str, metadata: pq.FileMetaData) -> tuple[pa.Array, pa.Array]:
    """(keys, hashes) that the footer `metadata` of file `name` names: read with the footer of the very
    file whose rows they describe (one open file), never a file renamed over it since."""
    try:
        record = index_record(metadata)
        if record is None:
            return _footer_index(metadata)
        return _index_file(folder, name, record, metadata.num_rows)
    except Exception as exc:
        raise damage_of(name, exc) or exc


def _footer_index(metadata: pq.FileMetaData) -> tuple[pa.Array, pa.Array]:
    raw = (metadata.metadata or {}).get(FOOTER_INDEX_KEY)
    if raw is None:
        return pa.array([], pa.string()), pa.array([], pa.string())
    index = json.loads(raw)
    return pa.array(index["keys"], pa.string()), pa.array(index["hashes"], pa.string())


def _index_file(folder: OutputFolder, shard: str, record: dict, rows: int) -> tuple[pa.Array, pa.Array]:
    name = record["file"]
    if not folder.exists(name):
        raise DamagedShardError(shard, f"its row index {name} is missing")
    if file_sha256(folder, name) != record["sha256"]:
        raise DamagedShardError(shard, f"its row index {name} was changed after it was written (SHA-256 differs)")
    with folder.fs.open_input_file(folder.path(name)) as fh:
        table = pq.ParquetFile(fh, page_checksum_verification=True).read()
    if table.num_rows != rows or record["rows"] != rows:
        raise DamagedShardError(shard, f"its row index {name} has {table.num_rows} rows for {rows} rows of data")
    return table.column("key").combine_chunks(), table.column("hash").combine_chunks()
