"""The scalar-iterator pandas UDFs of LongformerEmbeddings (WORD_EMBEDDINGS) and LongformerSentenceEmbeddings
(SENTENCE_EMBEDDINGS): Arrow batch -> annotation column, on the worker's cached model."""
from __future__ import annotations

import os
from functools import partial
from typing import Iterator, Tuple

import pandas as pd

from ..annotation import annotation_array_type, from_column, to_dicts
from .model_cache import get_model, get_tokenizer
from .sentence_embeddings import embed_documents
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


def model_udf(model_path: str, shipped_name: str, core, case_sensitive: bool, engine: str, device: str):
    """A scalar-iterator pandas UDF over annotation columns: core(model, tokenizer, rows) -> annotations
    per row, where rows holds one tuple of annotation lists per row (or one list with a single column)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(annotation_array_type())
    def longformer_model(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        folder = resolve_model_folder(model_path, shipped_name)
        model = get_model(folder, "embeddings", engine, device)  # cached per worker
        tokenizer = get_tokenizer(folder, not case_sensitive)
        for columns in batches:
            if isinstance(columns, pd.Series):
                rows = [from_column(v) for v in columns]
            else:
                rows = [tuple(from_column(v) for v in row) for row in zip(*columns)]
            yield pd.Series([to_dicts(r) for r in core(model, tokenizer, rows)])

    return longformer_model


def word_embeddings_udf(
    model_path: str,
    shipped_name: str,
    settings: EmbeddingSettings,
    case_sensitive: bool,
    engine: str,
    device: str,
):
    """[document, token] -> WORD_EMBEDDINGS."""
    return model_udf(model_path, shipped_name, partial(embed_rows, settings=settings), case_sensitive, engine,
                     device)


def sentence_embeddings_udf(model_path: str, shipped_name: str, settings: EmbeddingSettings, strategy: str,
                            case_sensitive: bool, engine: str, device: str):
    """[document] -> SENTENCE_EMBEDDINGS pooled over pieces."""
    core = partial(embed_documents, settings=settings, strategy=strategy)
    return model_udf(model_path, shipped_name, core, case_sensitive, engine, device)
