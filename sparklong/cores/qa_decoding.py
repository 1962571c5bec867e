"""Extractive QA decoding, pure numpy: the answer transformers' (4.x) question-answering pipeline
gives for the same max_seq_len (maxSentenceLength), doc_stride and max_answer_len, top_k=1.

- A pair is encoded `<s> question </s></s> context </s>`; a context longer than one window is split
  as the tokenizer's overflow does: windows of `budget` context pieces (what the question and the
  special tokens leave), each starting `budget - doc_stride` pieces after the previous one.
- Per window, start and end logits are soft-maxed over the context pieces and `<s>` (everything
  else is masked with -10000, in float32); `<s>`'s probabilities give the null score, then are
  zeroed. A span is start <= end < start + max_answer_len inside the context, scored
  p_start * p_end; the 12 best spans of each window (top_k * 2 + 10) are kept.
- Each span widens to the pre-tokenizer words its first and last pieces belong to (within the
  window), and spans whose text matches case-insensitively add their scores, first seen first.
- The best answer wins (ties: the first seen). With handle_impossible_answer, the smallest null
  score over windows wins instead when it is strictly higher.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..models.piece_tokenizer import Encoded
from .batching import Window
from .label_scores import softmax

TOP_SPANS = 12  # the pipeline keeps top_k * 2 + 10 spans per window; top_k is 1
MASKED = np.float32(-10000.0)


@dataclass(frozen=True)
class PairLayout:
    """One encoded (question, context) pair, cut around its context pieces."""

    prefix: np.ndarray  # [Q] ids before the context: <s> question </s></s>
    context: np.ndarray  # [P] context piece ids
    suffix: np.ndarray  # [S] ids after the context: </s>
    offsets: np.ndarray  # [P, 2] each piece's character span [start, stop) in the context text
    words: np.ndarray  # [P] the pre-tokenizer word of each piece (-1: none); non-decreasing
    global_count: int  # positions [0, global_count) get global attention: <s> and the question
    question_truncated: bool

    @property
    def specials(self) -> int:
        """Tokens of a window that are not context pieces."""
        return len(self.prefix) + len(self.suffix)

    def window_ids(self, window: Window) -> np.ndarray:
        return np.concatenate([self.prefix, self.context[window.start : window.stop], self.suffix])


@dataclass(frozen=True)
class Answer:
    start: int  # character offsets in the context: [start, stop)
    stop: int
    text: str
    score: float
    start_score: float  # softmax probability of the first piece (of <s> for no answer)
    end_score: float
    start_piece: int  # context piece indices; -1 for no answer
    end_piece: int
    window: int  # the window the span was read from (first seen), -1 for no answer


def max_doc_stride(window: int, specials: int) -> int:
    """The largest docStride leaving each window one question piece and one new context piece."""
    return window - specials - 2


def layout_pair(enc: Encoded, window: int, doc_stride: int, sep_id: int) -> PairLayout | None:
    """Cut an encoded pair around its context; None when the context has no pieces.

    When the pair needs several windows but the question is so long that a window would hold no
    more than doc_stride context pieces (the tokenizer would refuse to split it), the question keeps
    only its first (window - specials - doc_stride) // 2 pieces."""
    seq = np.array([-1 if s is None else s for s in enc.sequence_ids])
    in_context = np.nonzero(seq == 1)[0]
    if len(in_context) == 0:
        return None
    first, last = int(in_context[0]), int(in_context[-1]) + 1
    ids = np.asarray(enc.ids, dtype=np.int64)
    prefix, suffix = ids[:first], ids[last:]
    truncated = len(ids) > window and len(prefix) + len(suffix) + doc_stride >= window
    if truncated:
        question = np.nonzero(seq[:first] == 0)[0]
        specials = len(prefix) + len(suffix) - len(question)
        drop = question[max(1, (window - specials - doc_stride) // 2):]
        prefix = np.delete(prefix, drop)
    seps = np.nonzero(prefix == sep_id)[0]
    words = np.array([-1 if w is None else w for w in enc.word_ids[first:last]], dtype=np.int64)
    return PairLayout(
        prefix=prefix,
        context=ids[first:last],
        suffix=suffix,
        offsets=np.asarray(enc.offsets[first:last], dtype=np.int64).reshape(-1, 2),
        words=words,
        global_count=int(seps[0]) if len(seps) else len(prefix),
        question_truncated=bool(truncated),
    )


def stride_windows(num_pieces: int, budget: int, doc_stride: int) -> list[Window]:
    """The tokenizer's overflow windows: `budget` pieces each, every `budget - doc_stride` pieces,
    until one reaches the end."""
    if num_pieces <= budget:
        return [Window(0, num_pieces)]
    step = budget - doc_stride
    if step < 1:  # this loop's own guard; users meet question_answering.check_doc_stride first
        raise ValueError(f"docStride ({doc_stride}) must be smaller than the context room per window ({budget})")
    windows = []
    start = 0
    while True:
        stop = min(start + budget, num_pieces)
        windows.append(Window(start, stop))
        if stop == num_pieces:
            return windows
        start += step


@dataclass(frozen=True)
class _Span:
    first: int  # window positions of the first and last piece
    last: int
    score: float
    start_score: float
    end_score: float


def window_spans(ids: np.ndarray, start_logits: np.ndarray, end_logits: np.ndarray, context: tuple[int, int],
                 cls_id: int, max_answer_length: int) -> tuple[list[_Span], tuple[float, float, float]]:
    """The best spans of one window (positions [context[0], context[1]) are the context pieces)
    and its null score with <s>'s start and end probabilities."""
    lo, hi = context
    keep = np.zeros(len(ids), dtype=bool)  # [L]
    keep[lo:hi] = True
    keep |= ids == cls_id  # <s> stays in the softmax
    p_start = softmax(np.where(keep, start_logits[: len(ids)].astype(np.float32), MASKED))  # [L]
    p_end = softmax(np.where(keep, end_logits[: len(ids)].astype(np.float32), MASKED))  # [L]
    null = (float(p_start[0] * p_end[0]), float(p_start[0]), float(p_end[0]))
    starts = p_start[lo:hi]  # [P]
    ends = np.concatenate([p_end[lo:hi], np.zeros(max_answer_length, dtype=np.float32)])  # [P + A]
    width = np.arange(max_answer_length)  # [A]
    ends_of = np.arange(hi - lo)[:, None] + width[None, :]  # [P, A]: end piece of each (start, length)
    scores = starts[:, None] * ends[ends_of]  # [P, A] float32, as the pipeline's outer product
    flat = scores.ravel()
    if flat.size > TOP_SPANS:
        best = np.argpartition(-flat, TOP_SPANS)[:TOP_SPANS]
        best = best[np.argsort(-flat[best])]
    else:
        best = np.argsort(-flat)
    spans = []
    for k in best:
        if flat[k] <= 0:  # a span reaching past the context
            continue
        s, a = divmod(int(k), max_answer_length)
        spans.append(_Span(lo + s, lo + s + a, float(flat[k]), float(starts[s]), float(ends[s + a])))
    return spans, null


def decode_answer(layout: PairLayout, context_text: str, windows: list[Window],
                  logits: list[tuple[np.ndarray, np.ndarray]], cls_id: int, max_answer_length: int,
                  handle_impossible_answer: bool) -> Answer | None:
    """The pipeline's answer from every window's (start_logits, end_logits); None when no span exists."""
    answers: dict[str, Answer] = {}  # by lowercased text, first seen first; scores summed
    null: tuple[float, float, float] | None = None
    lo = len(layout.prefix)
    for k, (window, (start_logits, end_logits)) in enumerate(zip(windows, logits)):
        ids = layout.window_ids(window)
        spans, window_null = window_spans(ids, start_logits, end_logits, (lo, lo + window.stop - window.start),
                                          cls_id, max_answer_length)
        if null is None or window_null[0] < null[0]:
            null = window_null
        for span in spans:
            first, last = window.start + span.first - lo, window.start + span.last - lo  # context pieces
            start, stop = _word_chars(layout, window, first, last)
            text = context_text[start:stop]
            seen = answers.get(text.lower())
            if seen is None:
                answers[text.lower()] = Answer(start, stop, text, span.score, span.start_score, span.end_score,
                                               first, last, k)
            else:
                answers[text.lower()] = replace(seen, score=seen.score + span.score)
    best = max(answers.values(), key=lambda a: a.score, default=None)  # the first seen on ties
    if handle_impossible_answer and null is not None and (best is None or null[0] > best.score):
        return Answer(0, 0, "", null[0], null[1], null[2], -1, -1, -1)
    return best


def _word_chars(layout: PairLayout, window: Window, first: int, last: int) -> tuple[int, int]:
    """Character span from the start of the first piece's word to the end of the last piece's word,
    counting only the word's pieces inside this window (as the window's own encoding sees them)."""
    words = layout.words
    if words[first] < 0 or words[last] < 0:
        return int(layout.offsets[first, 0]), int(layout.offsets[last, 1])
    inside = words[window.start : window.stop]
    a = window.start + int(np.searchsorted(inside, words[first], side="left"))
    b = window.start + int(np.searchsorted(inside, words[last], side="right")) - 1
    return int(layout.offsets[a, 0]), int(layout.offsets[b, 1])

