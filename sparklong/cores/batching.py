"""Length-bucketed batching under a token budget, and overlapping windows for long documents."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


# The longest window a stage accepts before a model is attached, and at least after (a model with a
# shorter position table still runs: its windows are cut to its positions, window_length).
DEFAULT_MAX_WINDOW = 4096


def window_length(max_sentence_length: int, max_tokens: int) -> int:
    """Tokens per model window, special tokens included: maxSentenceLength, never past the model's
    positions (max_tokens). The one place the window is decided, for the stage and every core."""
    return min(max_sentence_length, max_tokens)


def longest_window_setting(max_tokens: int) -> int:
    """The largest maxSentenceLength (and token count a docStride or an answer may span) a stage accepts:
    DEFAULT_MAX_WINDOW, or more where the model's positions (max_tokens) allow more."""
    return max(DEFAULT_MAX_WINDOW, max_tokens)


@dataclass(frozen=True)
class Batching:
    """How a model core cuts and batches its forward passes; every core's settings hold one."""

    max_sentence_length: int = DEFAULT_MAX_WINDOW  # tokens per model window, special tokens included
    batch_size: int = 8  # windows per forward pass, at most
    max_batch_tokens: int | None = None  # padded tokens per forward pass (None: the device's); one window always fits

    def window(self, config) -> int:
        """Tokens per window for this model (window_length)."""
        return window_length(self.max_sentence_length, config.max_tokens)


@dataclass(frozen=True)
class Window:
    """A slice [start, stop) of a document's content pieces (special tokens excluded)."""

    start: int
    stop: int


def split_windows(num_pieces: int, max_content: int) -> list[Window]:
    """Cover num_pieces with windows of at most max_content pieces, overlapping by half a window.

    Each piece is later read from the window where it sits most centrally, so every piece keeps
    at least a quarter window of context on both sides unless it is near the document's own edge.
    """
    if num_pieces <= max_content:
        return [Window(0, num_pieces)]
    stride = max(1, max_content // 2)
    starts = list(range(0, num_pieces - max_content, stride)) + [num_pieces - max_content]
    return [Window(s, s + max_content) for s in starts]


def owner_windows(windows: Sequence[Window], num_pieces: int) -> np.ndarray:
    """For every piece, the window in which it sits farthest from an edge (ties: the earlier one).

    All windows have the same length, so that is the window whose centre is nearest.
    """
    centres = np.array([(w.start + w.stop - 1) / 2 for w in windows])  # ascending
    pieces = np.arange(num_pieces)
    right = np.clip(np.searchsorted(centres, pieces), 0, len(windows) - 1)
    left = np.clip(right - 1, 0, None)
    take_left = np.abs(pieces - centres[left]) <= np.abs(centres[right] - pieces)
    return np.where(take_left, left, right)


# A batch closes before a newcomer would make more than this share of its padded tokens padding:
# a question-answering context of 8,192 tokens gives windows of 4,096, 4,096 and ~320 tokens, and
# two ~320-token windows padded to 4,096 beside two full ones were 31% of that batch's compute.
MAX_PADDING = 0.25


def pack_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Group item indices into batches, sorted by length so padding stays small.

    A batch holds at most max_rows items, at most max_tokens padded tokens (rows x longest row) and
    at most MAX_PADDING of padding; an item longer than max_tokens goes alone, never dropped.

    This is the cores' limit: which windows are padded together (batchSize, maxBatchTokens, on any
    device). It is not the engine's models/encoder.cpu_run_rows, which runs one padded batch on the CPU
    in groups of rows and gives the same outputs: a different limit, owned by the engine.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0  # tokens of the items in `current`
    for i in order:
        longest = lengths[i]  # sorted ascending: the newcomer is the longest
        padded = (len(current) + 1) * longest
        if current and (len(current) + 1 > max_rows or padded > max_tokens
                        or real + longest < (1 - MAX_PADDING) * padded):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += longest
    if current:
        batches.append(current)
    return batches
