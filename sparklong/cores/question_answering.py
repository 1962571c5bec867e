"""The question-answering core, shared by the Arrow UDF and LightPipeline: (question, context)
DOCUMENT annotations -> one CHUNK annotation per row, decoded as transformers' pipeline decodes."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..annotation import CHUNK, Annotation
from .batching import Batching
from .forward import run_sequences
from .qa_decoding import Answer, decode_answer, layout_pair, max_doc_stride, stride_windows
from .windows import trim_leading_space


@dataclass(frozen=True)
class QASettings:
    batching: Batching = Batching()  # a window: <s> question </s></s> context piece </s>
    doc_stride: int = 128  # context pieces shared by consecutive windows
    max_answer_length: int = 30  # pieces per answer, at most
    handle_impossible_answer: bool = False


def special_tokens_per_pair(tokenizer) -> int:
    """Tokens the tokenizer adds around a (question, context) pair: 4 for RoBERTa's <s> q </s></s> c </s>."""
    return sum(tokenizer.encode_pairs(["a"], ["b"])[0].special_mask)


def check_doc_stride(window: int, tokenizer, doc_stride: int) -> None:
    """A window must hold the tokenizer's special tokens, a question piece and docStride + 1 context
    pieces. The one check of docStride against the window: the stage calls it on the driver (before any
    Spark job) and answer_rows on the executor; the setter only checks the param's range."""
    specials = special_tokens_per_pair(tokenizer)
    most = max_doc_stride(window, specials)
    if doc_stride > most:
        raise ValueError(
            f"docStride must be between 0 and {most} for windows of {window} tokens "
            f"({specials} special tokens, one question piece, one new context piece), got {doc_stride}"
        )


def answer_rows(model, tokenizer, rows, settings: QASettings) -> list[list[Annotation]]:
    """rows: (question DOCUMENT annotations, context DOCUMENT annotations) per row, the first of each
    used -> [CHUNK] per row; [] when the question or the context is null, empty or blank."""
    window = settings.batching.window(model.config)
    check_doc_stride(window, tokenizer, settings.doc_stride)
    pairs = [(r, q[0], c[0]) for r, (q, c) in enumerate(rows) if q and c and _text(q[0]) and _text(c[0])]
    encodings = tokenizer.encode_pairs([q.result for _, q, _ in pairs], [c.result for _, _, c in pairs])
    items = []  # (row, context annotation, layout, windows)
    for (r, _, context), enc in zip(pairs, encodings):
        layout = layout_pair(enc, window, settings.doc_stride, model.config.sep_token_id)
        if layout is not None:
            # an answer starts at its first word, not at the space a byte-level piece carries (ModernBERT's
            # tokenizer keeps it in the offsets; RoBERTa's trims it already)
            layout = replace(layout, offsets=trim_leading_space(context.result, layout.offsets))
            windows = stride_windows(len(layout.context), window - layout.specials, settings.doc_stride)
            items.append((r, context, layout, windows))
    sequences = [layout.window_ids(w) for _, _, layout, windows in items for w in windows]
    global_positions = [range(layout.global_count) for _, _, layout, windows in items for _ in windows]
    outputs = iter(run_sequences(model, tokenizer.pad_id, sequences, global_positions,
                                 settings.batching))  # (start_logits, end_logits) per window
    out: list[list[Annotation]] = [[] for _ in rows]
    for r, context, layout, windows in items:
        logits = [next(outputs) for _ in windows]
        answer = decode_answer(layout, context.result, windows, logits, tokenizer.bos_id,
                               settings.max_answer_length, settings.handle_impossible_answer)
        if answer is not None:
            out[r] = [_chunk(answer, context, layout.question_truncated, len(windows))]
    return out


def _text(doc: Annotation) -> bool:
    return bool(doc.result and doc.result.strip())


def _chunk(answer: Answer, context: Annotation, question_truncated: bool, windows: int) -> Annotation:
    """begin/end: inclusive offsets of the answer in the row's context text (an empty answer: 0, -1)."""
    begin = context.begin + answer.start
    end = context.begin + answer.stop - 1 if answer.text else begin - 1
    metadata = {
        "sentence": (context.metadata or {}).get("sentence", "0"),
        "chunk": "0",
        "score": repr(answer.score),
        "start_score": repr(answer.start_score),
        "end_score": repr(answer.end_score),
        "start": str(answer.start_piece),
        "end": str(answer.end_piece),
        "window": str(answer.window),
        "windows": str(windows),
    }
    if question_truncated:
        metadata["question_truncated"] = "true"
    return Annotation(CHUNK, begin, end, answer.text, metadata)
