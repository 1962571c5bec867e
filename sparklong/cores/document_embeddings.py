"""The document-embeddings core of LongformerSentenceEmbeddings, shared by its Arrow UDF and LightPipeline.

Each DOCUMENT annotation is encoded as the model's own tokenizer encodes it and run through the same
windows as LongformerEmbeddings; its pieces' last hidden states are then pooled into one vector:

- MEAN: the mean over every piece the model read, special tokens included — sentence-transformers'
  Pooling(mean) with attention mask 1 on `[CLS] text [SEP]` / `<s> text </s>`. A windowed document
  contributes each content piece once (from the window where it is most central), the start token of
  its first window and the end token of its last.
- CLS: the first token's state (`<s>` / `[CLS]`), as Spark NLP's BertSentenceEmbeddings.
"""
from __future__ import annotations

import numpy as np

from ..annotation import SENTENCE_EMBEDDINGS, Annotation
from .embedding_settings import EmbeddingSettings
from .windows import WindowPlan, encode_units, end_position, owned_pieces, plan_windows, run_windows

SENTENCE_POOLING = ("MEAN", "CLS")


def pool_windows(plan: WindowPlan, states: list[np.ndarray], strategy: str) -> np.ndarray:
    """One [E] vector from a unit's hidden states ([L, E] per window of the plan, all run)."""
    first = states[0][0]  # [E] <s> / [CLS] of the first window
    if strategy == "CLS":
        return first
    last = states[-1][end_position(plan.windows[-1])]  # [E] </s> / [SEP] of the last window
    total = first + owned_pieces(plan, states, len(first)).sum(axis=0, dtype=np.float64) + last  # [E]
    return (total / (len(plan.owners) + 2)).astype(np.float32)


def embed_documents(model, tokenizer, rows, settings: EmbeddingSettings, strategy: str = "MEAN") -> list[list[Annotation]]:
    """rows: (DOCUMENT annotations,) per row -> one SENTENCE_EMBEDDINGS annotation per non-blank document."""
    units = encode_units(tokenizer, [docs for docs, *_ in rows])
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
