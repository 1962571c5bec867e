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
    units = encode_units(tokenizer, [docs for docs, _ in rows])
    hidden = run_model(model, tokenizer, units, settings)
    out: list[list[Annotation]] = [[] for _ in rows]
    for unit, states in zip(units, hidden):
        docs, tokens = rows[unit.row]
        doc = docs[unit.sentence]
        mine = [t for t in tokens if doc.begin <= t.begin <= doc.end]
        out[unit.row].extend(_align(unit, states.pieces, mine))
    return out


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


@dataclass(frozen=True)
class UnitStates:
    """A unit's last hidden states: content pieces (each from its owner window) and the special tokens."""

    pieces: np.ndarray  # [P, E]
    first: np.ndarray  # [E] <s> / [CLS] of the first window
    last: np.ndarray  # [E] </s> / [SEP] of the last window


def run_model(model, tokenizer, units: list[_Unit], settings: EmbeddingSettings) -> list[UnitStates]:
    window = min(settings.max_sentence_length, model.config.max_tokens)  # never past the positions
    max_content = max(1, window - 2)
    inputs = []  # (unit index, window, ids with specials)
    for u, unit in enumerate(units):
        unit.windows = split_windows(len(unit.ids), max_content)
        for w in unit.windows:
            ids = np.concatenate([[tokenizer.bos_id], unit.ids[w.start : w.stop], [tokenizer.eos_id]])
            inputs.append((u, w, ids))
    hidden: list[np.ndarray | None] = [None] * len(inputs)
    for batch in pack_batches([len(x[2]) for x in inputs], settings.batch_size, settings.max_batch_tokens):
        outputs = _forward(model, tokenizer, [inputs[i] for i in batch], units, settings)
        for i, h in zip(batch, outputs):
            hidden[i] = h
    by_unit: dict[int, list[tuple[Window, np.ndarray]]] = {}
    for (u, w, _), h in zip(inputs, hidden):
        by_unit.setdefault(u, []).append((w, h))  # windows in document order
    states = []
    for u, parts in sorted(by_unit.items()):
        pieces = np.zeros((len(units[u].ids), model.config.hidden_size), dtype=np.float32)
        owners = owner_windows([w for w, _ in parts], len(units[u].ids))
        for k, (w, h) in enumerate(parts):
            mine = np.nonzero(owners == k)[0]
            pieces[mine] = h[mine - w.start + 1]  # +1: skip <s>
        states.append(UnitStates(pieces, parts[0][1][0], parts[-1][1][-1]))
    return states


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


def _align(unit: _Unit, vectors: np.ndarray, tokens: list[Annotation]) -> list[Annotation]:
    """First-piece rule: each token takes the first piece whose span overlaps [begin, end]."""
    out = []
    spans = unit.spans
    p = 0
    multi = len(unit.windows) > 1
    owners = owner_windows(unit.windows, len(unit.ids)) if multi else None
    for tok in sorted(tokens, key=lambda t: t.begin):
        while p < len(spans) and (spans[p, 1] <= tok.begin or spans[p, 0] == spans[p, 1]):
            p += 1
        hit = p < len(spans) and spans[p, 0] <= tok.end
        meta = {
            "sentence": str(unit.sentence),
            "token": tok.result,
            "pieceId": str(int(unit.ids[p])) if hit else "-1",
            "isWordStart": "true" if hit and spans[p, 0] == tok.begin else "false",
            "isOOV": "false" if hit else "true",
        }
        if multi:
            meta["window"] = str(int(owners[p])) if hit else "-1"
            meta["windows"] = str(len(unit.windows))
        vector = vectors[p] if hit else np.zeros(vectors.shape[1], dtype=np.float32)
        out.append(Annotation(WORD_EMBEDDINGS, tok.begin, tok.end, tok.result, meta, tuple(vector.tolist())))
    return out
