"""BertForTokenClassification: the token classification stage (token_classification_stage.py) on the full-
attention BERT family's checkpoints (model_type bert, roberta, xlm-roberta)."""
from .token_classification_stage import TokenClassificationStage
from .stage_families import BERT


class BertForTokenClassification(TokenClassificationStage):
    family = BERT
    default_pretrained = None  # docs/pretrained.md
