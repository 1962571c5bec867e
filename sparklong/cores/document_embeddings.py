"""The document-embeddings core of LongformerSentenceEmbeddings, shared by its Arrow UDF and LightPipeline.

Each DOCUMENT annotation is encoded as the model's own tokenizer encodes it and run through the same
windows as LongformerEmbeddings; its pieces' last hidden states are then pooled into one vector, MEAN
or CLS (cores/pooling.py).
"""
from __future__ import annotations

from ..annotation import SENTENCE_EMBEDDINGS, Annotation
from .embedding_settings import EmbeddingSettings
from .pooling import pool_windows
from .windows import encode_units, plan_windows, run_windows


def embed_documents(model, tokenizer, rows, settings: EmbeddingSettings, strategy: str = "MEAN") -> list[list[Annotation]]:
    """rows: (DOCUMENT annotations,) per row -> one SENTENCE_EMBEDDINGS annotation per non-blank document."""
    units = encode_units(tokenizer, [docs for docs, *_ in rows], settings.prompt)
    out: list[list[Annotation]] = [[] for _ in rows]
    plans = plan_windows(units, settings.batching.window(model.config))
    states = run_windows(model, tokenizer, units, plans, settings.batching, settings.global_attention)
    for unit, plan, unit_states in zip(units, plans, states):
        doc = rows[unit.row][0][unit.sentence]
        meta = {
            "sentence": str(unit.sentence),
            "token": doc.result,
            "pieceId": "-1",
            "isWordStart": "true",
            "pieces": str(len(unit.ids) + 2),  # what the model read, special tokens included once
            "windows": str(len(plan.windows)),
        }
        vector = pool_windows(plan, unit_states, strategy)
        out[unit.row].append(Annotation(SENTENCE_EMBEDDINGS, doc.begin, doc.end, doc.result, meta,
                                        vector))
    return out
