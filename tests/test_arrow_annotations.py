"""Annotation columns to Arrow and back, as the model and annotation UDFs exchange them with Spark."""
import numpy as np
import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_type

from sparklong.annotation import DOCUMENT, TOKEN, WORD_EMBEDDINGS, Annotation, annotation_array_type
from sparklong.udfs.arrow_annotations import annotation_arrow_type, rows_from_arrow, rows_to_arrow

ROWS = [
    [Annotation(DOCUMENT, 0, 10, "Héllo 世界 🙂", {"sentence": "0"})],
    [],
    [
        Annotation(TOKEN, 0, 4, "Hello", {}),
        Annotation(WORD_EMBEDDINGS, 6, 10, "world", {"sentence": "0", "isOOV": "false"},
                   np.arange(4, dtype=np.float32)),
        Annotation(WORD_EMBEDDINGS, 12, 12, "", {"token": ""}, np.full(4, -1.5, dtype=np.float32)),
    ],
]


def test_arrow_type_is_sparks_own_with_the_fields_rows_to_arrow_writes():
    assert annotation_arrow_type() == to_arrow_type(annotation_array_type())
    struct = annotation_arrow_type().value_type
    assert [f.name for f in struct] == ["annotatorType", "begin", "end", "result", "metadata", "embeddings"]


def test_round_trip_keeps_every_field_and_row():
    column = rows_to_arrow(ROWS)
    assert column.type == annotation_arrow_type()
    assert len(column) == len(ROWS) and column.null_count == 0
    assert rows_from_arrow(column) == ROWS
    # what pyspark's own conversion would read from the same column
    assert column.to_pylist()[2][1]["embeddings"] == [0.0, 1.0, 2.0, 3.0]
    assert column.to_pylist()[0][0]["metadata"] == [("sentence", "0")]


def test_no_vectors_anywhere():
    rows = [[Annotation(TOKEN, 0, 0, "a")], [Annotation(TOKEN, 2, 2, "b")]]
    assert rows_from_arrow(rows_to_arrow(rows)) == rows
    assert rows_from_arrow(rows_to_arrow([])) == []


def test_nulls_slices_and_chunks_read_as_spark_sends_them():
    sent = pa.array(rows_to_arrow(ROWS).to_pylist() + [None], type=annotation_arrow_type())  # built by pyarrow
    assert rows_from_arrow(sent) == [*ROWS, []]
    assert rows_from_arrow(sent.slice(2, 2)) == [ROWS[2], []]
    assert rows_from_arrow(pa.chunked_array([sent.slice(0, 1), sent.slice(1)])) == [*ROWS, []]


def test_vectors_come_back_as_read_only_float32_views():
    vector = rows_from_arrow(rows_to_arrow(ROWS))[2][1].embeddings
    assert vector.dtype == np.float32 and not vector.flags.writeable
    assert vector.tolist() == [0.0, 1.0, 2.0, 3.0]
