"""The token-classification core, shared by the Arrow UDF and LightPipeline: [DOCUMENT, TOKEN]
annotations -> one NAMED_ENTITY annotation per TOKEN.

Pieces and windows exactly as the word-embeddings core (cores/per_token.py): each token takes
the softmax of the logits at the first BPE piece overlapping it (Spark NLP's first-piece rule);
its label is the best one, every label's score is in the metadata, as Spark NLP's token classifiers
write them. A token no piece overlaps gets "O" and no scores.
"""
from __future__ import annotations

import numpy as np

from ..annotation import NAMED_ENTITY, NO_ENTITY, Annotation
from .embedding_settings import EmbeddingSettings
from .label_scores import softmax
from .per_token import per_token_rows
from .windows import window_metadata

def tag_rows(model, tokenizer, rows, settings: EmbeddingSettings) -> list[list[Annotation]]:
    """rows: (DOCUMENT annotations, TOKEN annotations) per row -> NAMED_ENTITY annotations per row."""
    return per_token_rows(model, tokenizer, rows, settings, _tag, model.config.num_labels)


def _tag(unit, plan, tokens: list[Annotation], first: np.ndarray, logits: np.ndarray, config) -> list[Annotation]:
    scores = softmax(logits)  # [T, C]: each token's first piece
    labels = [config.label(i) for i in range(scores.shape[1])]
    windows = window_metadata(plan)
    out = []
    for tok, p, token_scores in zip(tokens, first.tolist(), scores):
        metadata = {"sentence": str(unit.sentence), "word": tok.result}
        label = NO_ENTITY
        if p >= 0:
            label = labels[int(np.argmax(token_scores))]
            metadata.update({name: repr(float(s)) for name, s in zip(labels, token_scores)})
        metadata.update(windows(p))
        out.append(Annotation(NAMED_ENTITY, tok.begin, tok.end, label, metadata))
    return out
