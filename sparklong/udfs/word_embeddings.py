"""The word-embeddings core, shared by the Arrow UDF and LightPipeline.

Each DOCUMENT annotation is encoded exactly as the model's own tokenizer encodes it (special tokens
included); documents longer than maxSentenceLength are covered by half-overlapping windows, each
piece read from the window where it is most central. Each TOKEN annotation then gets the vector of
the first BPE piece whose character span overlaps it (Spark NLP's first-piece rule).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..annotation import WORD_EMBEDDINGS, Annotation
from ..annotators.sentence_rules import sentence_starts
from .batching import Batching, Window, owner_windows, split_windows
from .forward import run_sequences

GLOBAL_ATTENTION = ("none", "cls", "sentences")


@dataclass(frozen=True)
class EmbeddingSettings:
    batching: Batching = Batching()
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
    annotate(unit, tokens by begin, first piece of each (-1: none), outputs [T, ...] (the token's
    first piece's row; zeros where none), model config) makes those of one document. Only the windows
    that own a token's first piece are run (a 1 MB string without spaces is one token: one window)."""
    units = encode_units(tokenizer, [docs for docs, _ in rows])
    matched = []  # per unit: its tokens by begin, and the piece each takes
    for unit in units:
        docs, tokens = rows[unit.row]
        mine = sorted(tokens_of(docs[unit.sentence], tokens), key=lambda t: t.begin)
        matched.append((mine, first_pieces(unit.spans, mine)))
    needed = [np.unique(first[first >= 0]) for _, first in matched]
    outputs = piece_outputs(model, tokenizer, units, settings, needed)  # one [len(needed), ...] array per unit
    out: list[list[Annotation]] = [[] for _ in rows]
    for unit, (mine, first), need, unit_outputs in zip(units, matched, needed, outputs):
        per_token = np.zeros((len(mine), unit_outputs.shape[1]), dtype=np.float32)  # [T, ...]
        hit = first >= 0
        per_token[hit] = unit_outputs[np.searchsorted(need, first[hit])]
        out[unit.row].extend(annotate(unit, mine, first, per_token, model.config))
    return out


def tokens_of(doc: Annotation, tokens: list[Annotation]) -> list[Annotation]:
    """The TOKEN annotations that start inside a DOCUMENT annotation."""
    return [t for t in tokens if doc.begin <= t.begin <= doc.end]


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


def window_inputs(tokenizer, units: list[_Unit], window: int,
                  needed: list[np.ndarray] | None = None) -> list[tuple[int, Window, np.ndarray]]:
    """(unit index, window, `<s> pieces </s>` ids) for the windows of every unit: each unit is split
    into half-overlapping windows of at most `window` tokens (all set on unit.windows); with `needed`
    (per unit, sorted piece indices) only the windows that own one of those pieces are returned."""
    inputs = []
    for u, unit in enumerate(units):
        unit.windows = split_windows(len(unit.ids), max(1, window - 2))
        run = range(len(unit.windows))
        if needed is not None:
            run = np.unique(owner_windows(unit.windows, len(unit.ids))[needed[u]]).tolist()
        for k in run:
            w = unit.windows[k]
            inputs.append((u, w, np.concatenate([[tokenizer.bos_id], unit.ids[w.start : w.stop], [tokenizer.eos_id]])))
    return inputs


def piece_outputs(model, tokenizer, units: list[_Unit], settings: EmbeddingSettings,
                  needed: list[np.ndarray]) -> list[np.ndarray]:
    """The model's per-token output ([N, E] hidden states, or [N, C] logits) for the needed content
    pieces of every unit (sorted indices), each piece read from the window where it is most central."""
    parts = window_outputs(model, tokenizer, units, settings, needed)
    return [owned_pieces(unit, p, n) if p else np.zeros((0, model.config.hidden_size), dtype=np.float32)
            for unit, p, n in zip(units, parts, needed)]


def window_outputs(model, tokenizer, units: list[_Unit], settings: EmbeddingSettings,
                   needed: list[np.ndarray] | None = None):
    """Per unit, its windows in document order (with `needed`, only those owning a needed piece),
    each with the model's per-token output for `<s> pieces </s>` ([len, ...], padding cut off)."""
    window = settings.batching.window(model.config)
    inputs = window_inputs(tokenizer, units, window, needed)
    global_positions = None
    if settings.global_attention != "none":
        global_positions = [_global_positions(units[u], w, settings.global_attention) for u, w, _ in inputs]
    outputs = run_sequences(model, tokenizer.pad_id, [ids for _, _, ids in inputs], global_positions,
                            settings.batching)
    by_unit: list[list[tuple[Window, np.ndarray]]] = [[] for _ in units]
    for (u, w, ids), (h, *_) in zip(inputs, outputs):
        by_unit[u].append((w, h[: len(ids)]))  # h: [L, E], padded row
    return by_unit


def owned_pieces(unit: _Unit, parts: list[tuple[Window, np.ndarray]], pieces: np.ndarray | None = None) -> np.ndarray:
    """[N, ...]: each of `pieces` (sorted; every content piece when None) read from the window that
    owns it (where it is most central); `parts` holds at least those windows."""
    pieces = np.arange(len(unit.ids)) if pieces is None else pieces
    owners = owner_windows(unit.windows, len(unit.ids))[pieces]  # non-decreasing
    index = {w: k for k, w in enumerate(unit.windows)}
    out = np.zeros((len(pieces), parts[0][1].shape[-1]), dtype=np.float32)  # [N, E]
    for w, h in parts:
        lo, hi = np.searchsorted(owners, [index[w], index[w] + 1])  # rows this window owns
        out[lo:hi] = h[pieces[lo:hi] - w.start + 1]  # +1: skip <s>
    return out


def _global_positions(unit: _Unit, window: Window, mode: str) -> list[int]:
    """Window positions with global attention: <s> for "cls"; <s> and each sentence's first piece
    for "sentences" (sentences as SentenceDetector's default rules find them)."""
    if mode == "none":
        return []
    if mode == "cls":
        return [0]
    return [0] + [p - window.start + 1 for p in _sentence_starts(unit) if window.start <= p < window.stop]


def _sentence_starts(unit: _Unit) -> list[int]:
    """Content pieces that begin a sentence after the first."""
    starts = [unit.begin + s for s in sentence_starts(unit.text)[1:]]
    pieces = np.searchsorted(unit.spans[:, 0], starts)  # first piece at or after each sentence start
    return sorted({int(p) for p in pieces if p < len(unit.ids)})


def window_metadata(unit: _Unit):
    """piece -> `window` (the piece's owner window) and `windows` (count) metadata; {} for one window."""
    if len(unit.windows) <= 1:
        return lambda piece: {}
    owners = owner_windows(unit.windows, len(unit.ids))
    count = str(len(unit.windows))
    return lambda piece: {"window": str(int(owners[piece])) if piece >= 0 else "-1", "windows": count}


def _align(unit: _Unit, tokens: list[Annotation], first: np.ndarray, vectors: np.ndarray,
           config=None) -> list[Annotation]:
    """One WORD_EMBEDDINGS annotation per token: its row of vectors [T, E] (a view, not a copy;
    zeros when no piece overlaps it)."""
    out = []
    windows = window_metadata(unit)
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
