"""Pooling: a document's many vectors -> one vector (or one per chunk). Every pooling strategy, what
it pools, the check of a stage's choice and the pooling itself are here.

- A document's model pieces (LongformerSentenceEmbeddings, granularity "document"), from the last hidden
  states of its windows (cores/windows.py):
  MEAN: the mean over every piece the model read, special tokens included — sentence-transformers'
  Pooling(mean) with attention mask 1 on `[CLS] text [SEP]` / `<s> text </s>`. A windowed document
  contributes each content piece once (from the window where it is most central), the start token of
  its first window and the end token of its last.
  CLS: the first token's state (`<s>` / `[CLS]`), as Spark NLP's BertSentenceEmbeddings.
- The pieces of each chunk (granularity "chunks", late chunking: cores/late_chunks.py): MEAN over the
  chunk's own pieces, special tokens excluded. No other strategy.
- A document's word vectors (SentenceEmbeddings, after a word-embeddings stage): AVERAGE or SUM, as
  Spark NLP's SentenceEmbeddings.
"""
from __future__ import annotations

import numpy as np

from ..annotation import SENTENCE_EMBEDDINGS, Annotation, by_document
from .value_checks import check_choice
from .windows import WindowPlan, end_position, owned_pieces

PIECES, WORDS = "pieces", "words"
# Every pooling strategy, and what it pools: a document's model pieces or its word vectors
POOLING = {"MEAN": PIECES, "CLS": PIECES, "AVERAGE": WORDS, "SUM": WORDS}
GRANULARITY = ("document", "chunks")  # one vector per document, or one per chunk of it
CHUNK_POOLING = "MEAN"  # the only strategy of granularity "chunks"


def pooling_choices(over: str) -> tuple[str, ...]:
    """The strategies that pool `over` (PIECES or WORDS), in POOLING's order."""
    return tuple(strategy for strategy, pooled in POOLING.items() if pooled == over)


def check_pooling(strategy: str, over: str, granularity: str = "document") -> None:
    """A ValueError naming poolingStrategy: a strategy that does not pool `over`, or chunks pooled by
    anything but MEAN."""
    check_choice("poolingStrategy", strategy, pooling_choices(over))
    if granularity == "chunks" and strategy != CHUNK_POOLING:
        raise ValueError(f"poolingStrategy {strategy!r} with granularity 'chunks': chunks are "
                         f"{CHUNK_POOLING}-pooled over their own pieces; use poolingStrategy {CHUNK_POOLING!r}")


def pool_windows(plan: WindowPlan, states: list[np.ndarray], strategy: str) -> np.ndarray:
    """One [E] vector from a unit's hidden states ([L, E] per window of the plan, all run): MEAN or CLS."""
    first = states[0][0]  # [E] <s> / [CLS] of the first window
    if strategy == "CLS":
        return first
    last = states[-1][end_position(plan.windows[-1])]  # [E] </s> / [SEP] of the last window
    total = first + owned_pieces(plan, states, len(first)).sum(axis=0, dtype=np.float64) + last  # [E]
    return (total / (len(plan.owners) + 2)).astype(np.float32)


def chunk_means(states: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[C, E] mean of states [P, E] over each run [starts[c], starts[c + 1])."""
    counts = np.diff(np.append(starts, len(states)))  # [C]
    sums = np.add.reduceat(states.astype(np.float64), starts, axis=0)  # [C, E]
    return (sums / counts[:, None]).astype(np.float32)


def pool_sentences(documents: list[Annotation], words: list[Annotation], strategy: str) -> list[Annotation]:
    """SentenceEmbeddings' core: AVERAGE or SUM the word vectors inside each document's span; documents
    without vectors are skipped."""
    out = []
    for s, (doc, mine) in enumerate(zip(documents, by_document(documents, words))):
        vectors = [w.embeddings for w in mine if len(w.embeddings)]
        if not vectors:
            continue
        stacked = np.asarray(vectors, dtype=np.float32)  # [T, E]
        pooled = stacked.mean(axis=0) if strategy == "AVERAGE" else stacked.sum(axis=0)
        meta = {"sentence": str(s), "token": doc.result, "pieceId": "-1", "isWordStart": "true",
                "tokens": str(len(vectors))}
        out.append(Annotation(SENTENCE_EMBEDDINGS, doc.begin, doc.end, doc.result, meta, pooled))
    return out
