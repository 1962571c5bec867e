"""The per-token core under word embeddings and token classification: [DOCUMENT, TOKEN] annotations
-> one output row per TOKEN, that of the first BPE piece whose character span overlaps it (Spark NLP's
first-piece rule), each piece read from the window that owns it (cores/windows.py).

Only the windows that own a token's first piece are run (a 1 MB string without spaces is one token:
one window).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..annotation import Annotation, by_document
from .embedding_settings import EmbeddingSettings
from .windows import Unit, WindowPlan, encode_units, owned_pieces, plan_windows, run_windows

# annotate(unit, plan, tokens by begin, first piece of each (-1: none), outputs [T, width] (zeros
# where none), model config) -> the annotations of one document
Annotate = Callable[[Unit, WindowPlan, list, np.ndarray, np.ndarray, object], list]


def per_token_rows(model, tokenizer, rows, settings: EmbeddingSettings, annotate: Annotate,
                   width: int) -> list[list[Annotation]]:
    """rows: (DOCUMENT annotations, TOKEN annotations) per row -> annotations per row. width: the
    size of each token's output row (hidden states: hidden_size; logits: num_labels)."""
    units = encode_units(tokenizer, [docs for docs, _ in rows])
    members = [by_document(docs, tokens) for docs, tokens in rows]  # per row, per document: its tokens
    matched = []  # per unit: its tokens by begin, and the piece each takes
    for unit in units:
        mine = sorted(members[unit.row][unit.sentence], key=lambda t: t.begin)
        matched.append((mine, first_pieces(unit.spans, mine)))
    needed = [np.unique(first[first >= 0]) for _, first in matched]  # per unit, sorted
    plans = plan_windows(units, settings.batching.window(model.config), needed)
    outputs = run_windows(model, tokenizer, units, plans, settings.batching, settings.global_attention)
    out: list[list[Annotation]] = [[] for _ in rows]
    for unit, plan, (mine, first), need, unit_outputs in zip(units, plans, matched, needed, outputs):
        pieces = owned_pieces(plan, unit_outputs, width, need)  # [len(need), width]
        per_token = np.zeros((len(mine), width), dtype=np.float32)  # [T, width]
        hit = first >= 0
        per_token[hit] = pieces[np.searchsorted(need, first[hit])]
        out[unit.row].extend(annotate(unit, plan, mine, first, per_token, model.config))
    return out


def first_pieces(spans: np.ndarray, tokens: list[Annotation]) -> np.ndarray:
    """Spark NLP's first-piece rule, for tokens sorted by begin: the first non-empty piece whose span
    [start, stop) overlaps the token's [begin, end], or -1. Piece stops never decrease along a text."""
    begins = np.fromiter((t.begin for t in tokens), dtype=np.int64, count=len(tokens))
    ends = np.fromiter((t.end for t in tokens), dtype=np.int64, count=len(tokens))
    pieces = np.nonzero(spans[:, 0] != spans[:, 1])[0]  # [V] non-empty pieces
    if not len(pieces):
        return np.full(len(tokens), -1, dtype=np.int64)
    after = np.searchsorted(np.maximum.accumulate(spans[pieces, 1]), begins, side="right")  # first stop > begin
    candidate = pieces[np.minimum(after, len(pieces) - 1)]
    hit = (after < len(pieces)) & (spans[candidate, 0] <= ends)
    return np.where(hit, candidate, -1)
