"""The scalar-iterator Arrow UDF every model annotator runs: Arrow batch of annotation columns ->
one annotation column, through a pure core on the worker's cached model and tokenizer.

Each Arrow batch is run in slices of at most ARROW_BATCH_ROWS rows, one output batch per slice: an
output row of embeddings carries one vector per token, so a batch of long documents at the session's
maxRecordsPerBatch (Spark's default is 10,000) would not fit in memory. A scalar-iterator UDF may
yield its rows in batches of any size as long as they add up to the input's, so this bound needs no
session setting (a stage never changes one; sparklong.start() keeps input batches small too).
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence, Tuple

import pyarrow as pa

from ..annotation import Annotation, annotation_array_type
from ..session import ARROW_BATCH_ROWS
from .arrow_annotations import rows_from_arrow, rows_to_arrow
from .model_cache import get_model, get_tokenizer
from .model_shipping import resolve_model_folder
from ..cores.overlap import ordered_map

GPU_SLICES_IN_FLIGHT = 2  # row slices a GPU task runs at once (udfs/overlap.py)

# core(model, tokenizer, rows) -> annotations per row; rows hold one tuple of annotation lists per row
ModelCore = Callable[..., Sequence[Sequence[Annotation]]]


def run_batch(core: ModelCore, model, tokenizer, columns: Sequence[pa.Array]) -> pa.Array:
    """One Arrow batch: annotation columns in, the output annotation column out."""
    rows = list(zip(*(rows_from_arrow(c) for c in columns)))
    return rows_to_arrow(core(model, tokenizer, rows))


def row_slices(columns: Sequence[pa.Array], rows: int = ARROW_BATCH_ROWS) -> Iterator[Tuple[pa.Array, ...]]:
    """The columns of one Arrow batch in slices of at most `rows` rows (zero-copy views)."""
    for start in range(0, len(columns[0]), rows):
        yield tuple(column.slice(start, rows) for column in columns)


def model_udf(model_path: str, shipped_name: str, task: str, core: ModelCore, case_sensitive: bool,
              engine_settings: dict):
    """An Arrow UDF over annotation columns running `core` on the model for `task` (loaded once per
    worker by model_cache.get_model with `engine_settings`: engine, device, precision, quantize); the
    model folder is the path itself or the copy shipped as `shipped_name` (udfs/model_shipping.py)."""
    from pyspark.sql.functions import arrow_udf

    @arrow_udf(annotation_array_type())
    def longformer_model(batches: Iterator[Tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        folder = resolve_model_folder(model_path, shipped_name)
        model = get_model(folder, task, **engine_settings)  # cached per worker, on the task's GPU if any
        tokenizer = get_tokenizer(folder, not case_sensitive)
        slices = (part for columns in batches
                  for part in row_slices(columns if isinstance(columns, tuple) else (columns,)))
        depth = GPU_SLICES_IN_FLIGHT if model.device.type == "cuda" else 1
        yield from ordered_map(lambda part: run_batch(core, model, tokenizer, part), slices, depth)

    return longformer_model
