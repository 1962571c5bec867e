"""Windows over encoded documents, shared by every per-token and per-document core.

A DOCUMENT annotation is encoded exactly as the model's own tokenizer encodes it (a Unit: its content
pieces, special tokens removed, each piece's span without the whitespace it begins with), after a prompt
where the stage has one (sentence-transformers' prompts, "search_document: "): the prompt's pieces lead the
unit's pieces, the model reads them, and their spans are empty at the document's start. A unit longer than
a window is covered by half-overlapping windows (batching.split_windows), each run as `<s> pieces </s>`,
and each piece is read from the window where it is most central (its owner). plan_windows is pure: it
returns each unit's plan and stores nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..annotation import Annotation
from .batching import Batching, Window, owner_windows, split_windows
from .forward import run_sequences
from .global_attention import global_pieces, window_positions


@dataclass(frozen=True)
class Unit:
    """One non-blank DOCUMENT annotation of one row, encoded."""

    row: int
    sentence: int  # the annotation's index in its row
    begin: int  # the document's offset in the row's text
    text: str
    ids: np.ndarray  # [P] content piece ids, special tokens removed
    spans: np.ndarray  # [P, 2] absolute character span [start, stop) of each piece
    prompt_pieces: int = 0  # the leading pieces that are the prompt's (their spans empty at `begin`)

    @property
    def own_spans(self) -> np.ndarray:
        """[P - prompt_pieces, 2] the spans of the document's own pieces (piece prompt_pieces onward)."""
        return self.spans[self.prompt_pieces:]


@dataclass(frozen=True)
class WindowPlan:
    """One unit's windows in document order, the window each piece is read from, and those to run."""

    windows: tuple[Window, ...]
    owners: np.ndarray  # [P] index of each piece's owner window, non-decreasing
    run: tuple[int, ...]  # the windows to run, ascending


def encode_units(tokenizer, rows: list[list[Annotation]], prompt: str = "") -> list[Unit]:
    """Each non-blank DOCUMENT annotation of each row, encoded (rows: DOCUMENT annotation lists), after
    `prompt` when one is given."""
    found = [(r, s, doc) for r, docs in enumerate(rows) for s, doc in enumerate(docs)
             if doc.result and doc.result.strip()]
    encodings = tokenizer.encode_batch([prompt + doc.result for _, _, doc in found])
    units = []
    for (r, s, doc), enc in zip(found, encodings):
        content = np.array([not m for m in enc.special_mask], dtype=bool)
        ids = np.asarray(enc.ids, dtype=np.int64)[content]
        spans = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[content] - len(prompt)  # [P, 2] in the text
        prompt_pieces = int(np.count_nonzero(spans[:, 1] <= 0)) if prompt else 0  # a piece across the seam: text
        spans = trim_leading_space(doc.result, np.clip(spans, 0, None))
        units.append(Unit(r, s, doc.begin, doc.result, ids, spans + doc.begin, prompt_pieces))
    return units


def trim_leading_space(text: str, spans: np.ndarray) -> np.ndarray:
    """[P, 2] piece spans without the whitespace they begin with. Byte-level BPE without RoBERTa's
    trim_offsets (ModernBERT's tokenizer) gives " word" the span of the space too; trimmed, a word's
    first piece starts after a gap (late_chunks.word_starts) and a chunk begins at its first word.
    A piece of whitespace only becomes empty (start == stop)."""
    spans = spans.copy()
    for i in [i for i, start in enumerate(spans[:, 0].tolist()) if start < len(text) and text[start].isspace()]:
        start, stop = spans[i]
        while start < stop and text[start].isspace():
            start += 1
        spans[i, 0] = start
    return spans


def plan_windows(units: list[Unit], window: int, needed: list[np.ndarray] | None = None) -> list[WindowPlan]:
    """Each unit's half-overlapping windows of at most `window` tokens, `<s>` and `</s>` included. All
    of them run, or with `needed` (per unit, sorted piece indices) only those owning one of its pieces."""
    plans = []
    for u, unit in enumerate(units):
        windows = tuple(split_windows(len(unit.ids), max(1, window - 2)))
        owners = owner_windows(windows, len(unit.ids))  # [P]
        run = range(len(windows)) if needed is None else np.unique(owners[needed[u]]).tolist()
        plans.append(WindowPlan(windows, owners, tuple(run)))
    return plans


def run_windows(model, tokenizer, units: list[Unit], plans: list[WindowPlan], batching: Batching,
                global_attention: str = "none") -> list[list[np.ndarray]]:
    """Per unit, the model's first output for each window of its plan.run, in that order: [L, ...]
    per token (L: its batch's padded length; `<s>` at 0, piece p at p - window.start + 1) or [C] per
    sequence. global_attention: a GLOBAL_ATTENTION mode (global_attention.py)."""
    jobs = [(u, plan.windows[k]) for u, plan in enumerate(plans) for k in plan.run]
    sequences = [np.concatenate([[tokenizer.bos_id], units[u].ids[w.start : w.stop], [tokenizer.eos_id]])
                 for u, w in jobs]
    pieces = global_pieces(units, global_attention)
    positions = None if pieces is None else [window_positions(pieces[u], w) for u, w in jobs]
    outputs = run_sequences(model, tokenizer.pad_id, sequences, positions, batching)
    by_unit: list[list[np.ndarray]] = [[] for _ in units]
    for (u, _), (first, *_) in zip(jobs, outputs):
        by_unit[u].append(first)
    return by_unit


def end_position(window: Window) -> int:
    """Where `</s>` sits in the window's `<s> pieces </s>`."""
    return window.stop - window.start + 1


def owned_pieces(plan: WindowPlan, outputs: list[np.ndarray], width: int,
                 pieces: np.ndarray | None = None) -> np.ndarray:
    """[N, width]: each of `pieces` (sorted; every content piece when None) read from the window that
    owns it; outputs: the per-token outputs ([L, width]) of plan.run's windows, at least those owners.
    width: the size of the output they stand for (hidden states, or logits), also when N is 0."""
    pieces = np.arange(len(plan.owners)) if pieces is None else pieces
    owners = plan.owners[pieces]  # [N] non-decreasing
    out = np.zeros((len(pieces), width), dtype=np.float32)  # [N, width]
    for k, h in zip(plan.run, outputs):
        lo, hi = np.searchsorted(owners, [k, k + 1])  # the rows window k owns
        out[lo:hi] = h[pieces[lo:hi] - plan.windows[k].start + 1]  # +1: skip <s>
    return out


def window_metadata(plan: WindowPlan):
    """piece -> `window` (the piece's owner window) and `windows` (count) metadata; {} for one window."""
    if len(plan.windows) <= 1:
        return lambda piece: {}
    count = str(len(plan.windows))
    return lambda piece: {"window": str(int(plan.owners[piece])) if piece >= 0 else "-1", "windows": count}
