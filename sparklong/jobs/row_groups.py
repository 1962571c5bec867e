"""A parquet writer whose row groups are large however small the batches it is given: pyarrow's
ParquetWriter makes each write call a row group of its own, so a shard rewritten from 256-row batches
had one row group (and one footer entry per column) per 256 rows. Batches are buffered up to
`max_rows` rows or `max_bytes` bytes and written as one row group. Every page carries its CRC.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

MAX_ROWS = 65_536
MAX_BYTES = 64 << 20  # what one task holds of a row group before writing it


class RowGroupWriter:
    def __init__(self, sink, schema: pa.Schema, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES):
        self._writer = pq.ParquetWriter(sink, schema, write_page_checksum=True)
        self._max_rows, self._max_bytes = max_rows, max_bytes
        self._batches: list[pa.RecordBatch] = []
        self._rows = self._bytes = 0

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self._batches.append(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._rows >= self._max_rows or self._bytes >= self._max_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._batches:
            self._writer.write_table(pa.Table.from_batches(self._batches), row_group_size=self._rows)
            self._batches, self._rows, self._bytes = [], 0, 0

    def add_key_value_metadata(self, metadata: dict) -> None:
        self._writer.add_key_value_metadata(metadata)

    def close(self) -> None:
        self._flush()
        self._writer.close()
