"""The word-embeddings core, shared by the Arrow UDF and LightPipeline: [DOCUMENT, TOKEN] annotations
-> one WORD_EMBEDDINGS annotation per TOKEN.

Each DOCUMENT annotation is encoded exactly as the model's own tokenizer encodes it (special tokens
included); documents longer than maxSentenceLength are covered by half-overlapping windows, each
piece read from the window where it is most central (cores/windows.py). Each TOKEN annotation then
gets the vector of the first BPE piece whose character span overlaps it (cores/per_token.py).
"""
from __future__ import annotations

import numpy as np

from ..annotation import WORD_EMBEDDINGS, Annotation
from .embedding_settings import EmbeddingSettings
from .per_token import per_token_rows
from .windows import Unit, WindowPlan, window_metadata


def embed_rows(model, tokenizer, rows, settings: EmbeddingSettings) -> list[list[Annotation]]:
    """rows: list of (document annotations, token annotations) -> WORD_EMBEDDINGS per row."""
    return per_token_rows(model, tokenizer, rows, settings, _align, model.config.hidden_size)


def _align(unit: Unit, plan: WindowPlan, tokens: list[Annotation], first: np.ndarray, vectors: np.ndarray,
           config=None) -> list[Annotation]:
    """One WORD_EMBEDDINGS annotation per token: its row of vectors [T, E] (a view, not a copy;
    zeros when no piece overlaps it)."""
    out = []
    windows = window_metadata(plan)
    for tok, p, vector in zip(tokens, first.tolist(), vectors):
        hit = p >= 0
        meta = {
            "sentence": str(unit.sentence),
            "token": tok.result,
            "pieceId": str(int(unit.ids[p])) if hit else "-1",
            "isWordStart": "true" if hit and unit.spans[p, 0] == tok.begin else "false",
            "isOOV": "false" if hit else "true",
            **windows(p),
        }
        out.append(Annotation(WORD_EMBEDDINGS, tok.begin, tok.end, tok.result, meta, vector))
    return out
