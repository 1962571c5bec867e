"""Turn a pure per-row core (annotation lists in, annotations out) into a scalar-iterator Arrow UDF."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import pyarrow as pa

from ..annotation import Annotation, annotation_array_type
from .arrow_annotations import rows_from_arrow, rows_to_arrow

RowCore = Callable[..., Sequence[Annotation]]


def annotation_udf(core: RowCore):
    """core(*annotation_lists) -> annotations; one call per row, nulls arrive as empty lists."""
    from pyspark.sql.functions import arrow_udf

    @arrow_udf(annotation_array_type())
    def annotate(batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        for columns in batches:
            columns = columns if isinstance(columns, tuple) else (columns,)
            rows = zip(*(rows_from_arrow(c) for c in columns))
            yield rows_to_arrow([core(*row) for row in rows])

    return annotate
