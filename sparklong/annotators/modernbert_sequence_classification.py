"""ModernBertForSequenceClassification: the sequence classification stage (sequence_classification_stage.py)
on ModernBERT checkpoints (model_type modernbert)."""
from .sequence_classification_stage import SequenceClassificationStage
from .stage_families import MODERNBERT


class ModernBertForSequenceClassification(SequenceClassificationStage):
    family = MODERNBERT
    default_pretrained = None  # docs/pretrained.md
