"""BertForSequenceClassification: the sequence classification stage (sequence_classification_stage.py) on the
full-attention BERT family's checkpoints (model_type bert, roberta, xlm-roberta)."""
from .sequence_classification_stage import SequenceClassificationStage
from .stage_families import BERT


class BertForSequenceClassification(SequenceClassificationStage):
    family = BERT
    default_pretrained = None  # docs/pretrained.md
