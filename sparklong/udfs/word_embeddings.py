"""The word-embeddings core, shared by the pandas UDF and LightPipeline.

Each DOCUMENT annotation is encoded exactly as the model's own tokenizer encodes it (special tokens
included); documents longer than maxSentenceLength are covered by half-overlapping windows, each
piece read from the window where it is most central. Each TOKEN annotation then gets the vector of
the first BPE piece whose character span overlaps it (Spark NLP's first-piece rule).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..annotation import WORD_EMBEDDINGS, Annotation
from .batching import Window, owner_windows, split_windows
from .forward import run_sequences

GLOBAL_ATTENTION = ("none", "cls", "sentences")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


@dataclass(frozen=True)
class EmbeddingSettings:
    max_sentence_length: int = 4096  # tokens per model window, special tokens included
    batch_size: int = 8  # windows per forward pass, at most
    max_batch_tokens: int = 16384  # padded tokens per forward pass, at most (one window always fits)
    global_attention: str = "none"


@dataclass
class _Unit:
    """One document annotation of one row, encoded."""

    row: int
    sentence: int
    begin: int  # the document's offset in the row's text
    text: str
    ids: np.ndarray  # [P] content piece ids, special tokens removed
    spans: np.ndarray  # [P, 2] absolute character span [start, stop) of each piece
    windows: list[Window]


def embed_rows(model, tokenizer, rows, settings: EmbeddingSettings) -> list[list[Annotation]]:
    """rows: list of (document annotations, token annotations) -> WORD_EMBEDDINGS per row."""
    return per_token_rows(model, tokenizer, rows, settings, _align)


def per_token_rows(model, tokenizer, rows, settings: EmbeddingSettings, annotate) -> list[list[Annotation]]:
    """rows: (DOCUMENT annotations, TOKEN annotations) per row -> annotations per row, where
    annotate(unit, outputs [P, ...], tokens of the unit, model config) makes those of one document."""
    units = encode_units(tokenizer, [docs for docs, _ in rows])
    outputs = piece_outputs(model, tokenizer, units, settings)  # one [P, ...] array per unit
    out: list[list[Annotation]] = [[] for _ in rows]
    for unit, unit_outputs in zip(units, outputs):
        docs, tokens = rows[unit.row]
        out[unit.row].extend(annotate(unit, unit_outputs, tokens_of(docs[unit.sentence], tokens), model.config))
    return out


def tokens_of(doc: Annotation, tokens: list[Annotation]) -> list[Annotation]:
    """The TOKEN annotations that start inside a DOCUMENT annotation."""
    return [t for t in tokens if doc.begin <= t.begin <= doc.end]


def encode_units(tokenizer, rows: list[list[Annotation]]) -> list[_Unit]:
    """Each non-blank DOCUMENT annotation of each row, encoded (rows: DOCUMENT annotation lists)."""
    found = [
        (r, s, doc)
        for r, docs in enumerate(rows)
        for s, doc in enumerate(docs)
        if doc.result and doc.result.strip()
    ]
    encodings = tokenizer.encode_batch([doc.result for _, _, doc in found])
    units = []
    for (r, s, doc), enc in zip(found, encodings):
        content = np.array([not m for m in enc.special_mask], dtype=bool)
        ids = np.asarray(enc.ids, dtype=np.int64)[content]
        spans = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[content] + doc.begin
        units.append(_Unit(r, s, doc.begin, doc.result, ids, spans, []))
    return units


def window_inputs(tokenizer, units: list[_Unit], window: int) -> list[tuple[int, Window, np.ndarray]]:
    """(unit index, window, `<s> pieces </s>` ids) for every window of every unit: each unit is split
    into half-overlapping windows of at most `window` tokens (set on unit.windows)."""
    inputs = []
    for u, unit in enumerate(units):
        unit.windows = split_windows(len(unit.ids), max(1, window - 2))
        for w in unit.windows:
            inputs.append((u, w, np.concatenate([[tokenizer.bos_id], unit.ids[w.start : w.stop], [tokenizer.eos_id]])))
    return inputs


def piece_outputs(model, tokenizer, units: list[_Unit], settings: EmbeddingSettings) -> list[np.ndarray]:
    """The model's per-token output ([P, E] hidden states, or [P, C] logits) for every content piece
    of every unit, each piece read from the window where it is most central."""
    return [owned_pieces(unit, parts) for unit, parts in zip(units, window_outputs(model, tokenizer, units, settings))]


def window_outputs(model, tokenizer, units: list[_Unit], settings: EmbeddingSettings):
    """Per unit, its windows in document order, each with the model's per-token output for
    `<s> pieces </s>` ([len, ...], padding cut off)."""
    inputs = window_inputs(tokenizer, units, min(settings.max_sentence_length, model.config.max_tokens))
    global_positions = None
    if settings.global_attention != "none":
        global_positions = [_global_positions(units[u], w, settings.global_attention) for u, w, _ in inputs]
    outputs = run_sequences(model, tokenizer.pad_id, [ids for _, _, ids in inputs], global_positions,
                            settings.batch_size, settings.max_batch_tokens)
    by_unit: list[list[tuple[Window, np.ndarray]]] = [[] for _ in units]
    for (u, w, ids), (h, *_) in zip(inputs, outputs):
        by_unit[u].append((w, h[: len(ids)]))  # h: [L, E], padded row
    return by_unit


def owned_pieces(unit: _Unit, parts: list[tuple[Window, np.ndarray]]) -> np.ndarray:
    """[P, ...]: each content piece's output from the window that owns it (where it is most central)."""
    pieces = np.zeros((len(unit.ids), parts[0][1].shape[-1]), dtype=np.float32)  # [P, E]
    owners = owner_windows([w for w, _ in parts], len(unit.ids))
    for k, (w, h) in enumerate(parts):
        mine = np.nonzero(owners == k)[0]
        pieces[mine] = h[mine - w.start + 1]  # +1: skip <s>
    return pieces


def _global_positions(unit: _Unit, window: Window, mode: str) -> list[int]:
    """Window positions with global attention: <s> for "cls"; <s> and each sentence's first piece
    for "sentences" (a sentence starts after . ! or ? and whitespace)."""
    if mode == "none":
        return []
    if mode == "cls":
        return [0]
    return [0] + [p - window.start + 1 for p in _sentence_starts(unit) if window.start <= p < window.stop]


def _sentence_starts(unit: _Unit) -> list[int]:
    """Content pieces that begin a sentence after the first."""
    starts = [unit.begin + m.end() for m in _SENTENCE_END.finditer(unit.text)]
    pieces = np.searchsorted(unit.spans[:, 0], starts)  # first piece at or after each sentence start
    return sorted({int(p) for p in pieces if p < len(unit.ids)})


def first_pieces(unit: _Unit, tokens: list[Annotation]) -> list[tuple[Annotation, int]]:
    """First-piece rule: each token (in text order) with the first piece whose span overlaps
    [begin, end], or -1 when none does."""
    out = []
    spans = unit.spans
    p = 0
    for tok in sorted(tokens, key=lambda t: t.begin):
        while p < len(spans) and (spans[p, 1] <= tok.begin or spans[p, 0] == spans[p, 1]):
            p += 1
        out.append((tok, p if p < len(spans) and spans[p, 0] <= tok.end else -1))
    return out


def window_metadata(unit: _Unit):
    """piece -> `window` (the piece's owner window) and `windows` (count) metadata; {} for one window."""
    if len(unit.windows) <= 1:
        return lambda piece: {}
    owners = owner_windows(unit.windows, len(unit.ids))
    count = str(len(unit.windows))
    return lambda piece: {"window": str(int(owners[piece])) if piece >= 0 else "-1", "windows": count}


def _align(unit: _Unit, vectors: np.ndarray, tokens: list[Annotation], config=None) -> list[Annotation]:
    out = []
    windows = window_metadata(unit)
    for tok, p in first_pieces(unit, tokens):
        hit = p >= 0
        meta = {
            "sentence": str(unit.sentence),
            "token": tok.result,
            "pieceId": str(int(unit.ids[p])) if hit else "-1",
            "isWordStart": "true" if hit and unit.spans[p, 0] == tok.begin else "false",
            "isOOV": "false" if hit else "true",
            **windows(p),
        }
        vector = vectors[p] if hit else np.zeros(vectors.shape[1], dtype=np.float32)
        out.append(Annotation(WORD_EMBEDDINGS, tok.begin, tok.end, tok.result, meta, tuple(vector.tolist())))
    return out
