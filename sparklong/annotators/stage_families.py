"""The model stages' architecture families: which checkpoints each family's stages run, what their classes
are called (Spark NLP's names: LongformerEmbeddings, ModernBertEmbeddings, ...) and the defaults they start
from. A stage given a checkpoint of another family refuses it, naming the stage that runs it."""
from __future__ import annotations

from dataclasses import dataclass

from ..models.config import ConfigError


@dataclass(frozen=True)
class StageFamily:
    prefix: str  # the first word of the family's stage class names
    model_types: tuple[str, ...]  # config.json model_type values its stages run
    max_sentence_length: int  # default maxSentenceLength: the length the family's models were trained on
    storage_ref: str  # default storageRef of its embeddings


LONGFORMER = StageFamily("Longformer", ("longformer",), 4096, "longformer")
MODERNBERT = StageFamily("ModernBert", ("modernbert",), 8192, "modernbert")
# One family for the full-attention encoders of bert.py: Spark NLP's BertEmbeddings, ... names (docs/annotators.md)
BERT = StageFamily("Bert", ("bert", "roberta", "xlm-roberta"), 512, "bert")
FAMILIES = (LONGFORMER, MODERNBERT, BERT)


def family_of(model_type: str) -> StageFamily | None:
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def stage_class(model_type: str, stage_suffix: str) -> type:
    """The stage class of `stage_suffix` (e.g. "SentenceEmbeddings") that runs checkpoints of `model_type`."""
    import sparklong

    family = family_of(model_type)
    if family is None:
        raise ConfigError(f"model_type {model_type!r} has no stages; they run "
                          f"{', '.join(t for f in FAMILIES for t in f.model_types)}")
    return getattr(sparklong, family.prefix + stage_suffix)


def check_family(family: StageFamily, stage_suffix: str, model_type: str, folder: str) -> None:
    """ConfigError unless `family`'s stages run checkpoints of `model_type`; the message names the stage
    that does (its family's prefix + the same `stage_suffix`, e.g. ModernBert + Embeddings)."""
    if model_type in family.model_types:
        return
    stage = f"{family.prefix}{stage_suffix}"
    other = family_of(model_type)
    fix = (f"use {other.prefix}{stage_suffix}.loadSavedModel(folder, spark)" if other is not None
           else "no stage runs it")
    raise ConfigError(f"{folder} holds a {model_type!r} checkpoint and {stage} runs "
                      f"{' / '.join(repr(t) for t in family.model_types)} ones: {fix}")
