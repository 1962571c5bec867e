"""The scalar-iterator pandas UDF of LongformerEmbeddings: Arrow batch -> WORD_EMBEDDINGS column."""
from __future__ import annotations

from typing import Iterator, Tuple

import pandas as pd

from ..annotation import annotation_array_type, from_column, to_dicts
from .fault_injection import kill_worker_if_asked
from .model_cache import get_model, get_tokenizer
from .model_shipping import resolve_model_folder
from .word_embeddings import EmbeddingSettings, embed_rows


def embed_batch(model, tokenizer, documents: pd.Series, tokens: pd.Series, settings: EmbeddingSettings) -> pd.Series:
    """One Arrow batch: DOCUMENT and TOKEN cells in, the WORD_EMBEDDINGS column out; vectors stay
    float32 numpy arrays until Arrow copies them."""
    rows = [(from_column(d), from_column(t)) for d, t in zip(documents, tokens)]
    return pd.Series([to_dicts(r, arrays=True) for r in embed_rows(model, tokenizer, rows, settings)])


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
            yield embed_batch(model, tokenizer, documents, tokens, settings)
            kill_worker_if_asked()  # test hook, off unless a driver set its local property

    return longformer_embeddings
