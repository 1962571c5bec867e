"""Late chunking, the chunks core of LongformerSentenceEmbeddings (granularity "chunks").

Each DOCUMENT annotation is encoded once, with its full context: the same windows as every other
core, each content piece's last hidden state read from the window where it is most central. Only then
is the document cut into chunks, and each chunk's vector is the MEAN of its own pieces' states
(special tokens excluded: `<s>` and `</s>` belong to no chunk; cores/pooling.py). A chunk is

- a sentence, when the stage has a second input column of sentences (SentenceDetector's DOCUMENT
  annotations): each piece goes to the sentence in which its last character lies (pieces before the
  first sentence to the first, pieces between two sentences to the earlier); a sentence that gets no
  piece of its own (it lies inside one piece) gives no chunk;
- else a run of at most `chunk_pieces` pieces cut at word starts (a piece after a gap in the text,
  as the tokenizer's offsets show, starts a word): never inside a word, so a single word longer than
  `chunk_pieces` is one longer chunk.

The chunks of a document tile its pieces: no gap, no overlap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..annotation import SENTENCE_EMBEDDINGS, Annotation, by_document
from .embedding_settings import EmbeddingSettings
from .pooling import chunk_means
from .windows import Unit, encode_units, owned_pieces, plan_windows, run_windows


@dataclass(frozen=True)
class Chunks:
    """One document's chunks: piece runs [starts[c], starts[c + 1]) and inclusive character offsets
    into the row's text."""

    starts: np.ndarray  # [C] first piece of each chunk, ascending, starts[0] == 0
    begins: np.ndarray  # [C]
    ends: np.ndarray  # [C]


def word_starts(spans: np.ndarray) -> np.ndarray:
    """[P] bool: the piece starts a word (the first piece, or one that starts after a gap in the text)."""
    reached = np.maximum.accumulate(spans[:, 1])  # [P] furthest stop so far
    return np.concatenate([[True], spans[1:, 0] > reached[:-1]])


def piece_runs(spans: np.ndarray, limit: int) -> np.ndarray:
    """[C] first piece of each run of at most `limit` pieces, cut only at word starts (greedy)."""
    words = np.flatnonzero(word_starts(spans))  # [W] first piece of each word
    stops = np.append(words[1:], len(spans))  # [W]
    starts = [0]
    for first, stop in zip(words.tolist(), stops.tolist()):
        if stop - starts[-1] > limit and first > starts[-1]:  # this word would overfill a non-empty chunk
            starts.append(first)
    return np.asarray(starts, dtype=np.int64)


def piece_chunks(unit: Unit, limit: int) -> Chunks:
    """Runs of the document's own pieces (a prompt's pieces belong to no chunk)."""
    starts = piece_runs(unit.own_spans, limit) + unit.prompt_pieces
    begins = np.minimum.reduceat(unit.spans[:, 0], starts)  # [C]
    return Chunks(starts, begins, np.maximum.reduceat(unit.spans[:, 1], starts) - 1)


def sentence_chunks(unit: Unit, sentences: list[Annotation]) -> Chunks:
    """One chunk per sentence (sorted by begin) that owns a piece; its offsets are the sentence's."""
    begins = np.array([s.begin for s in sentences], dtype=np.int64)  # [S]
    ends = np.array([s.end for s in sentences], dtype=np.int64)  # [S]
    spans = unit.own_spans  # a prompt's pieces belong to no chunk
    last = np.maximum.accumulate(np.maximum(spans[:, 0], spans[:, 1] - 1))  # [P'] each piece's last char
    owner = np.clip(np.searchsorted(begins, last, side="right") - 1, 0, None)  # [P'] non-decreasing
    kept, starts = np.unique(owner, return_index=True)  # [C] sentences with pieces, their first piece
    return Chunks(starts.astype(np.int64) + unit.prompt_pieces, begins[kept], ends[kept])


def chunks_of(unit: Unit, sentences: list[Annotation] | None, chunk_pieces: int) -> Chunks:
    """Sentence chunks when the row has a sentence column (the document's sentences), else piece runs."""
    if sentences is None:
        return piece_chunks(unit, chunk_pieces)
    sentences = sorted(sentences, key=lambda s: s.begin)
    if not sentences:
        return Chunks(*(np.zeros(0, dtype=np.int64),) * 3)
    return sentence_chunks(unit, sentences)


def chunk_annotations(unit: Unit, chunks: Chunks, vectors: np.ndarray, first: int, windows: int) -> list[Annotation]:
    """One SENTENCE_EMBEDDINGS annotation per chunk (vectors [C, E]), indexed from `first` in the row;
    `windows`: how many the document was read in."""
    counts = np.diff(np.append(chunks.starts, len(unit.ids)))  # [C]
    out = []
    for c, (begin, end, count, vector) in enumerate(zip(chunks.begins.tolist(), chunks.ends.tolist(),
                                                         counts.tolist(), vectors)):
        text = unit.text[begin - unit.begin : end - unit.begin + 1]
        meta = {
            "sentence": str(unit.sentence),
            "chunk": str(first + c),
            "token": text,
            "pieceId": "-1",
            "isWordStart": "true",
            "pieces": str(count),
            "windows": str(windows),
        }
        out.append(Annotation(SENTENCE_EMBEDDINGS, begin, end, text, meta, vector))
    return out


def embed_chunks(model, tokenizer, rows, settings: EmbeddingSettings, chunk_pieces: int = 256) -> list[list[Annotation]]:
    """rows: (DOCUMENT annotations,) or (DOCUMENT annotations, sentence annotations) per row -> one
    SENTENCE_EMBEDDINGS annotation per chunk, `chunk` numbered from 0 across the row's documents."""
    units = encode_units(tokenizer, [inputs[0] for inputs in rows], settings.prompt)
    sentences = [by_document(inputs[0], inputs[1] or []) if len(inputs) > 1 else None for inputs in rows]
    plans = plan_windows(units, settings.batching.window(model.config))
    states = run_windows(model, tokenizer, units, plans, settings.batching, settings.global_attention)
    out: list[list[Annotation]] = [[] for _ in rows]
    for unit, plan, unit_states in zip(units, plans, states):
        mine = None if sentences[unit.row] is None else sentences[unit.row][unit.sentence]
        chunks = chunks_of(unit, mine, chunk_pieces)
        if len(chunks.starts):
            vectors = chunk_means(owned_pieces(plan, unit_states, model.config.hidden_size), chunks.starts)  # [C, E]
            out[unit.row].extend(chunk_annotations(unit, chunks, vectors, len(out[unit.row]), len(plan.windows)))
    return out
