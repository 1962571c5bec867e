"""The scalar-iterator pandas UDF every model annotator runs: Arrow batch of annotation columns ->
one annotation column, through a pure core on the worker's cached model and tokenizer."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence, Tuple

import pandas as pd

from ..annotation import Annotation, annotation_array_type, from_column, to_dicts
from .fault_injection import kill_worker_if_asked
from .model_cache import get_model, get_tokenizer
from .model_shipping import resolve_model_folder

# core(model, tokenizer, rows) -> annotations per row; rows hold one tuple of annotation lists per row
ModelCore = Callable[..., Sequence[Sequence[Annotation]]]


def run_batch(core: ModelCore, model, tokenizer, columns: Sequence[pd.Series]) -> pd.Series:
    """One Arrow batch: annotation cells in, the output annotation column out; vectors stay float32
    numpy arrays until Arrow copies them."""
    rows = [tuple(from_column(v) for v in row) for row in zip(*columns)]
    return pd.Series([to_dicts(r, arrays=True) for r in core(model, tokenizer, rows)])


def model_udf(model_path: str, shipped_name: str, task: str, core: ModelCore, case_sensitive: bool,
              engine: str, device: str, quantize: str = "none"):
    """A pandas UDF over annotation columns running `core` on the model for `task` (loaded once per
    worker by model_cache.get_model); the model folder is the path itself or the copy shipped as
    `shipped_name` (udfs/model_shipping.py)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(annotation_array_type())
    def longformer_model(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        folder = resolve_model_folder(model_path, shipped_name)
        model = get_model(folder, task, engine, device, quantize=quantize)  # cached per worker
        tokenizer = get_tokenizer(folder, not case_sensitive)
        for columns in batches:
            yield run_batch(core, model, tokenizer, (columns,) if isinstance(columns, pd.Series) else columns)
            kill_worker_if_asked()  # test hook, off unless a driver set its local property

    return longformer_model
