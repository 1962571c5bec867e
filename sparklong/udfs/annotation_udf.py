"""Turn a pure per-row core (annotation lists in, annotations out) into a pandas UDF."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import pandas as pd

from ..annotation import Annotation, annotation_array_type, from_column, to_dicts

RowCore = Callable[..., Sequence[Annotation]]


def annotation_udf(core: RowCore):
    """core(*annotation_lists) -> annotations; one call per row, nulls arrive as empty lists."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(annotation_array_type())
    def annotate(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        for columns in batches:
            columns = columns if isinstance(columns, tuple) else (columns,)
            rows = zip(*(c.tolist() for c in columns))
            yield pd.Series([to_dicts(core(*(from_column(v) for v in row)), arrays=True) for row in rows])

    return annotate
