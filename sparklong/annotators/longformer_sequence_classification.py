"""LongformerForSequenceClassification: the sequence classification stage (sequence_classification_stage.py)
on Longformer checkpoints."""
from .sequence_classification_stage import SequenceClassificationStage
from .stage_families import LONGFORMER


class LongformerForSequenceClassification(SequenceClassificationStage):
    family = LONGFORMER
    default_pretrained = "longformer_base_sequence_classifier_imdb"
