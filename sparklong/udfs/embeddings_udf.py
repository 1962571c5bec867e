"""The scalar-iterator pandas UDF of LongformerEmbeddings: Arrow batch -> WORD_EMBEDDINGS column."""
from __future__ import annotations

import os
from typing import Iterator, Tuple

import pandas as pd

from ..annotation import annotation_array_type, from_column, to_dicts
from .model_cache import get_model, get_tokenizer
from .word_embeddings import EmbeddingSettings, embed_rows


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


def word_embeddings_udf(
    model_path: str,
    shipped_name: str,
    settings: EmbeddingSettings,
    case_sensitive: bool,
    engine: str,
    device: str,
):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(annotation_array_type())
    def longformer_embeddings(batches: Iterator[Tuple[pd.Series, pd.Series]]) -> Iterator[pd.Series]:
        folder = resolve_model_folder(model_path, shipped_name)
        model = get_model(folder, "embeddings", engine, device)  # cached per worker
        tokenizer = get_tokenizer(folder, not case_sensitive)
        for documents, tokens in batches:
            rows = [(from_column(d), from_column(t)) for d, t in zip(documents, tokens)]
            yield pd.Series([to_dicts(r) for r in embed_rows(model, tokenizer, rows, settings)])

    return longformer_embeddings
