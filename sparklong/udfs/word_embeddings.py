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
import torch

from ..annotation import WORD_EMBEDDINGS, Annotation
from .batching import Window, owner_windows, pack_batches, split_windows

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
    units = _encode(tokenizer, rows)
    tokens = []  # per unit: its tokens by begin, and the piece each takes (-1: none overlaps)
    for unit in units:
        docs, row_tokens = rows[unit.row]
        doc = docs[unit.sentence]
        mine = sorted((t for t in row_tokens if doc.begin <= t.begin <= doc.end), key=lambda t: t.begin)
        tokens.append((mine, first_pieces(unit.spans, mine)))
    needed = [np.unique(first[first >= 0]) for _, first in tokens]
    vectors = _run_model(model, tokenizer, units, needed, settings)  # one [len(needed), E] array per unit
    out: list[list[Annotation]] = [[] for _ in rows]
    for unit, (mine, first), need, vecs in zip(units, tokens, needed, vectors):
        out[unit.row].extend(_align(unit, mine, first, vecs, np.searchsorted(need, first)))
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


def _encode(tokenizer, rows) -> list[_Unit]:
    found = [
        (r, s, doc)
        for r, (docs, _) in enumerate(rows)
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


def _run_model(model, tokenizer, units: list[_Unit], needed: list[np.ndarray],
               settings: EmbeddingSettings) -> list[np.ndarray]:
    """The vectors of each unit's needed pieces ([len(needed), E]); windows that own none of them are
    not run (a 1 MB string without spaces is one token: one window, not thousands)."""
    window = min(settings.max_sentence_length, model.config.max_tokens)  # never past the positions
    max_content = max(1, window - 2)
    inputs = []  # (unit index, window, ids with specials, needed pieces it owns, their rows in the result)
    for u, unit in enumerate(units):
        unit.windows = split_windows(len(unit.ids), max_content)
        owners = owner_windows(unit.windows, len(unit.ids))[needed[u]]  # non-decreasing: needed is sorted
        bounds = np.searchsorted(owners, np.arange(len(unit.windows) + 1))  # rows of window k: bounds[k:k+2]
        for k, w in enumerate(unit.windows):
            rows = np.arange(bounds[k], bounds[k + 1])
            if len(rows):
                ids = np.concatenate([[tokenizer.bos_id], unit.ids[w.start : w.stop], [tokenizer.eos_id]])
                inputs.append((u, w, ids, needed[u][rows], rows))
    # each batch's rows go straight into the result: no window's hidden states outlive its batch
    vectors = [np.zeros((len(n), model.config.hidden_size), dtype=np.float32) for n in needed]
    for batch in pack_batches([len(x[2]) for x in inputs], settings.batch_size, settings.max_batch_tokens):
        outputs = _forward(model, tokenizer, [inputs[i][:3] for i in batch], units, settings)
        for i, h in zip(batch, outputs):
            u, w, _, pieces, rows = inputs[i]
            vectors[u][rows] = h[pieces - w.start + 1]  # +1: skip <s>
    return vectors


def _forward(model, tokenizer, batch, units, settings) -> list[np.ndarray]:
    """One padded forward pass; returns each window's hidden states [len, E] as float32 numpy."""
    longest = max(len(ids) for _, _, ids in batch)
    input_ids = torch.full((len(batch), longest), tokenizer.pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), longest), dtype=torch.long)
    global_mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, (u, w, ids) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.from_numpy(ids)
        attention[row, : len(ids)] = 1
        for pos in _global_positions(units[u], w, settings.global_attention):
            global_mask[row, pos] = 1
    device = model.device
    hidden = model.module(
        input_ids.to(device),
        attention.to(device),
        global_mask.to(device) if settings.global_attention != "none" else None,
    )  # [B, L, E]
    hidden = hidden.float().cpu().numpy()
    return [hidden[row, : len(ids)] for row, (_, _, ids) in enumerate(batch)]


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


def _align(unit: _Unit, tokens: list[Annotation], first: np.ndarray, vectors: np.ndarray,
           rows: np.ndarray) -> list[Annotation]:
    """One WORD_EMBEDDINGS annotation per token: vectors[row] for its first piece (a view, not a copy),
    zeros when no piece overlaps it."""
    out = []
    multi = len(unit.windows) > 1
    owners = owner_windows(unit.windows, len(unit.ids)) if multi else None
    zeros = np.zeros(vectors.shape[1], dtype=np.float32)
    for tok, p, row in zip(tokens, first.tolist(), rows.tolist()):
        hit = p >= 0
        meta = {
            "sentence": str(unit.sentence),
            "token": tok.result,
            "pieceId": str(int(unit.ids[p])) if hit else "-1",
            "isWordStart": "true" if hit and unit.spans[p, 0] == tok.begin else "false",
            "isOOV": "false" if hit else "true",
        }
        if multi:
            meta["window"] = str(int(owners[p])) if hit else "-1"
            meta["windows"] = str(len(unit.windows))
        out.append(Annotation(WORD_EMBEDDINGS, tok.begin, tok.end, tok.result, meta, vectors[row] if hit else zeros))
    return out
