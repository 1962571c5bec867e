"""The scalar-iterator pandas UDF every model annotator runs: Arrow batch of annotation columns ->
one annotation column, through a pure core on the worker's cached model and tokenizer."""
from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence, Tuple

import pandas as pd

from ..annotation import Annotation, annotation_array_type, from_column, to_dicts
from .model_cache import get_model, get_tokenizer

# core(model, tokenizer, rows) -> annotations per row; rows hold one tuple of annotation lists per row
ModelCore = Callable[..., Sequence[Sequence[Annotation]]]


def resolve_model_folder(path: str, shipped_name: str) -> str:
    """The model folder on this worker: the path itself when visible (local mode, shared or saved
    pipeline path), else the copy SparkContext.addFile shipped under shipped_name."""
    if os.path.isdir(path):
        return path
    from pyspark import SparkFiles

    shipped = SparkFiles.get(shipped_name)
    if os.path.isdir(shipped):
        return shipped
    raise FileNotFoundError(f"model folder {path} is not visible on this worker and was not shipped")


def model_udf(model_path: str, shipped_name: str, task: str, core: ModelCore, case_sensitive: bool,
              engine: str, device: str, quantize: str = "none"):
    """A pandas UDF over annotation columns running `core` on the model for `task` (loaded once per
    worker by model_cache.get_model)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(annotation_array_type())
    def longformer_model(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        folder = resolve_model_folder(model_path, shipped_name)
        model = get_model(folder, task, engine, device, quantize=quantize)  # cached per worker
        tokenizer = get_tokenizer(folder, not case_sensitive)
        for columns in batches:
            columns = (columns,) if isinstance(columns, pd.Series) else columns
            rows = [tuple(from_column(v) for v in row) for row in zip(*columns)]
            yield pd.Series([to_dicts(r) for r in core(model, tokenizer, rows)])

    return longformer_model
