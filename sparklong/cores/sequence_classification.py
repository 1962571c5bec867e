"""The sequence-classification core, shared by the Arrow UDF and LightPipeline: each DOCUMENT
annotation (a document or a sentence) -> CATEGORY annotations.

Each document is encoded as the model's tokenizer encodes it, `<s>` gets global attention (as
transformers' LongformerForSequenceClassification sets it), and the head's logits become scores by
softmax or sigmoid. A document longer than maxSentenceLength is split into half-overlapping windows
whose scores are averaged (metadata `windows`). As Spark NLP: softmax gives the best label, sigmoid
every label scoring above the threshold; coalesceSentences averages a row's scores into one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..annotation import CATEGORY, Annotation
from .batching import Batching
from .label_scores import activate
from .windows import encode_units, plan_windows, run_windows


@dataclass(frozen=True)
class ClassificationSettings:
    batching: Batching = Batching()
    activation: str = "softmax"  # or "sigmoid" (multi-label)
    threshold: float = 0.5  # sigmoid: labels scoring above it are returned
    coalesce_sentences: bool = False  # one annotation per row from the average of its documents' scores


def classify_rows(model, tokenizer, rows, settings: ClassificationSettings) -> list[list[Annotation]]:
    """rows: tuples whose first item is the row's DOCUMENT annotations -> CATEGORY annotations per row."""
    units = encode_units(tokenizer, [row[0] for row in rows])
    plans = plan_windows(units, settings.batching.window(model.config))
    logits = run_windows(model, tokenizer, units, plans, settings.batching, "cls")  # [C] per window
    scores = [activate(np.stack(unit_logits), settings.activation).mean(axis=0) for unit_logits in logits]  # [C]
    per_row: dict[int, list[int]] = {}
    for u, unit in enumerate(units):
        per_row.setdefault(unit.row, []).append(u)
    out: list[list[Annotation]] = [[] for _ in rows]
    for r, mine in per_row.items():
        docs = rows[r][0]
        if settings.coalesce_sentences:
            first, last = docs[units[mine[0]].sentence], docs[units[mine[-1]].sentence]
            split = any(len(plans[u].windows) > 1 for u in mine)
            windows = sum(len(plans[u].windows) for u in mine) if split else 1
            parts = [(first.begin, last.end, 0, np.mean([scores[u] for u in mine], axis=0), windows)]
        else:
            parts = [(docs[units[u].sentence].begin, docs[units[u].sentence].end, units[u].sentence, scores[u],
                      len(plans[u].windows)) for u in mine]
        for begin, end, sentence, score, windows in parts:
            out[r].extend(_categories(begin, end, sentence, score, windows, model.config, settings))
    return out

def _categories(begin: int, end: int, sentence: int, scores: np.ndarray, windows: int, config,
                settings: ClassificationSettings) -> list[Annotation]:
    labels = [config.label(i) for i in range(len(scores))]
    metadata = {"sentence": str(sentence), **{label: repr(float(s)) for label, s in zip(labels, scores)}}
    if windows > 1:
        metadata["windows"] = str(windows)
    if settings.activation == "softmax":
        chosen = [int(np.argmax(scores))]
    else:
        chosen = [i for i, s in enumerate(scores) if s > settings.threshold]
    return [Annotation(CATEGORY, begin, end, labels[i], metadata) for i in chosen]
