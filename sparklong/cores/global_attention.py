"""Global attention for the cores that read a document's windows: the modes, and the window
positions each gives.

"none" passes no global mask (the model's default); "cls" gives `<s>` global attention; "sentences"
gives it to `<s>` and each sentence's first piece (sentences as SentenceDetector's default rules find
them).
"""
from __future__ import annotations

import numpy as np

from .batching import Window
from .sentence_rules import sentence_starts

GLOBAL_ATTENTION = ("none", "cls", "sentences")


def check_global_attention(mode: str, config) -> None:
    """ValueError when a global attention mode other than "none" is asked of a model that takes no
    global attention mask (its config's `global_attention` is False: ModernBERT's global layers are fixed)."""
    if mode != "none" and not config.global_attention:
        raise ValueError(f"globalAttention '{mode}': a {config.model_type} model has no global attention "
                         "tokens; use 'none'")


def global_pieces(units, mode: str) -> list[np.ndarray] | None:
    """Per unit, the content pieces with global attention besides `<s>` (sorted); None for "none"."""
    if mode == "none":
        return None
    empty = np.zeros(0, dtype=np.int64)
    if mode != "sentences":
        return [empty for _ in units]
    return [np.asarray(sentence_start_pieces(unit), dtype=np.int64) for unit in units]


def window_positions(pieces: np.ndarray, window: Window) -> list[int]:
    """The positions with global attention in `<s> pieces </s>` of `window`: `<s>` and `pieces` inside it."""
    lo, hi = np.searchsorted(pieces, [window.start, window.stop])
    return [0] + (pieces[lo:hi] - window.start + 1).tolist()  # +1: after <s>


def sentence_start_pieces(unit) -> list[int]:
    """A unit's content pieces that begin a sentence after the first."""
    starts = [unit.begin + s for s in sentence_starts(unit.text)[1:]]
    pieces = np.searchsorted(unit.spans[:, 0], starts)  # first piece at or after each sentence start
    return sorted({int(p) for p in pieces if p < len(unit.ids)})
