"""Annotation columns <-> Arrow arrays, column by column: no Python object per float.

pyspark's pandas conversion of array<struct<..., embeddings: array<float>>> turns every vector into
a list of Python floats on the way out (3.2 s for the 31,141 word vectors of 8 documents of 4,096
pieces, measured with pyspark 4.3); here vectors go from numpy to Arrow buffers and back as views.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import pyarrow as pa

from ..annotation import Annotation, annotation_array_type


@functools.cache
def annotation_arrow_type() -> pa.ListType:
    """Spark's own Arrow type for the annotation column (annotation.annotation_array_type)."""
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(annotation_array_type())


def rows_to_arrow(rows: Sequence[Sequence[Annotation]]) -> pa.ListArray:
    """One annotation list per row -> the column's Arrow array (no nulls: a row without annotations is [])."""
    flat = [a for row in rows for a in row]
    struct_type = annotation_arrow_type().value_type
    metadata = [a.metadata for a in flat]
    keys = [k for m in metadata for k in m]
    items = [v for m in metadata for v in m.values()]
    vectors = [a.embeddings for a in flat]
    values = np.concatenate(vectors, dtype=np.float32) if any(len(v) for v in vectors) else np.zeros(0, np.float32)
    columns = [
        pa.array([a.annotatorType for a in flat], pa.string()),
        pa.array(np.fromiter((a.begin for a in flat), np.int32, len(flat))),
        pa.array(np.fromiter((a.end for a in flat), np.int32, len(flat))),
        pa.array([a.result for a in flat], pa.string()),
        pa.MapArray.from_arrays(_offsets(map(len, metadata)), pa.array(keys, pa.string()),
                                pa.array(items, pa.string()), type=struct_type.field("metadata").type),
        pa.ListArray.from_arrays(_offsets(map(len, vectors)), pa.array(values),
                                 type=struct_type.field("embeddings").type),
    ]
    structs = pa.StructArray.from_arrays(columns, fields=list(struct_type))
    return pa.ListArray.from_arrays(_offsets(map(len, rows)), structs, type=annotation_arrow_type())


def rows_from_arrow(column: pa.Array) -> list[list[Annotation]]:
    """The column's Arrow array -> one annotation list per row (null -> []). Vectors are read-only
    float32 views of the Arrow buffer."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    offsets = column.offsets.to_numpy()  # [R + 1], absolute into column.values
    start, stop = int(offsets[0]), int(offsets[-1])
    structs = column.values.slice(start, stop - start)
    fields = dict(zip((f.name for f in structs.type), structs.flatten()))
    kinds, results = fields["annotatorType"].to_pylist(), fields["result"].to_pylist()
    begins, ends = fields["begin"].to_numpy().tolist(), fields["end"].to_numpy().tolist()
    metadata = fields["metadata"].to_pylist()  # [(key, value), ...] or None per annotation
    vectors = _vectors(fields["embeddings"])
    flat = [
        Annotation(kinds[i], begins[i], ends[i], results[i], dict(metadata[i] or ()), vectors[i])
        for i in range(len(structs))
    ]
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    bounds = (offsets - start).tolist()
    return [flat[bounds[r] : bounds[r + 1]] if valid[r] else [] for r in range(len(column))]


def _vectors(lists: pa.ListArray) -> list:
    """Each list of floats as a float32 numpy view (() where null or empty)."""
    offsets = lists.offsets.to_numpy()  # [N + 1]
    values = lists.values.cast(pa.float32()).to_numpy(zero_copy_only=False)  # all floats, one buffer
    valid = lists.is_valid().to_numpy(zero_copy_only=False)
    return [values[offsets[i] : offsets[i + 1]] if valid[i] and offsets[i + 1] > offsets[i] else ()
            for i in range(len(lists))]


def _offsets(lengths) -> pa.Array:
    """Lengths -> int32 Arrow offsets [0, l0, l0 + l1, ...]."""
    ends = np.fromiter(lengths, np.int64)
    return pa.array(np.concatenate([[0], np.cumsum(ends)]).astype(np.int32))
